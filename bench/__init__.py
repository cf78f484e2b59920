"""promptq's benchmarks: `make bench` (python -m bench) prints one table and writes BENCHMARKS.md."""

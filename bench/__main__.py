"""`python -m bench [--quick] [--only NAME ...]`: run the benchmarks, print one table, write
BENCHMARKS.md at the repository root.

Scenarios, in order: throughput, breakdown, overhead, bulk, resources (promptq against baselines),
then chaos, ratelimit, crash, backlog, webhooks, fairness when those modules exist. Each module exposes
`run(quick: bool) -> list[Row]`. `--quick` is a smoke test (~3 minutes, one run per
figure); the full run takes ≤ 20 minutes on 2 cores and repeats every figure ≥ 3 times.
Per-run data, process logs and profiles go to /tmp/promptq-bench/<time>/
(PROMPTQ_BENCH_LOGS to move it).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from pathlib import Path

from bench import report
from bench.report import Row

SCENARIOS = ("throughput", "breakdown", "overhead", "bulk", "resources", "chaos", "ratelimit", "crash",
             "backlog", "webhooks", "fairness")
ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer jobs and one run per figure (smoke test)")
    parser.add_argument("--only", action="append", choices=SCENARIOS, metavar="NAME",
                        help=f"run only this scenario (repeatable): {', '.join(SCENARIOS)}")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md",
                        help="where to write the markdown table (default: BENCHMARKS.md at the repo root)")
    args = parser.parse_args(argv)

    from bench.harness import LOG_ROOT, log

    rows: list[Row] = []
    failed: list[str] = []
    started = time.monotonic()
    for name in args.only or SCENARIOS:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bench.{name}":
                raise
            log(f"{name}: no module bench/{name}.py, skipped")
            continue
        log(f"{name}: starting{' (quick)' if args.quick else ''}")
        t0 = time.monotonic()
        try:
            rows += module.run(args.quick)
        except Exception:  # one broken scenario must not cost the others' figures
            traceback.print_exc()
            failed.append(name)
            rows.append(Row(name, "scenario failed", float("nan"), note="see the traceback in the output"))
        log(f"{name}: done in {time.monotonic() - t0:.0f} s")

    report.print_table(rows)
    command = "python -m bench" + (" --quick" if args.quick else "") + "".join(
        f" --only {n}" for n in args.only or ())
    args.output.write_text(report.markdown(rows, command))
    log(f"wrote {args.output} ({len(rows)} rows) in {time.monotonic() - started:.0f} s; logs in {LOG_ROOT}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

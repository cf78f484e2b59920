"""How a worker process sets its interpreter for 200 threads that mostly wait on sockets:
the cyclic garbage collector's first threshold and the GIL's switch interval.

CPython's defaults suit a few busy threads. In a worker (bench.ab, 2 workers × 200
threads, 0 s provider latency, 2026-12-05):

- Garbage collection. Generation 0 is collected every 700 container objects allocated
  and not yet freed; a job in flight holds about a hundred, so a worker collected
  dozens of times a second, every tenth collection also generation 1 (~13 ms) and some
  a full one (~220 ms: the heap holds 200 SDK clients), each with every thread
  stopped: 0.58 ms of CPU per job, an eighth of the worker's. At 50,000 a collection
  comes every ~2,000 jobs and takes ~80 ms; little is cyclic garbage (a few hundred
  objects per collection), so little waits longer to be freed.
- Switch interval. A thread waiting for the GIL wakes every interval and, if no other
  thread took the GIL meanwhile, makes the holder hand it over. At 50 ms rather than
  5 ms a thread gives the GIL up where it waits on a socket, as it does within
  milliseconds anyway (one run at 0.5 s: 75 context switches per job instead of 94,
  0.73 ms of system CPU instead of 1.12).

Together (bench.ab, 5 runs of 1,500 jobs, both orders): 1.11× the jobs/s at 0.86–0.87×
the CPU per job; at 1 s latency the same jobs/s at 0.90× the CPU. Peak RSS at 200 calls
in flight: 280–289 MB against 263–272. The bare Celery baseline gained nothing from
the same values (bench --quick, 2 runs each: 438–447 against 430–444 jobs/s at 0 s).

Both are process-wide and set at the worker's start; prefork children inherit them.
"""

from __future__ import annotations

import gc
import sys


def tune_interpreter(gc_threshold: int, switch_interval_s: float) -> None:
    """Collect generation 0 every `gc_threshold` net container allocations (0: leave
    CPython's 700; generations 1 and 2 keep their thresholds) and let a thread hold the
    GIL `switch_interval_s` seconds before a waiter may claim it (0: leave CPython's
    0.005)."""
    if gc_threshold > 0:  # gc.set_threshold(0) would turn collection off
        _, older, oldest = gc.get_threshold()
        gc.set_threshold(gc_threshold, older, oldest)
    if switch_interval_s > 0:
        sys.setswitchinterval(switch_interval_s)

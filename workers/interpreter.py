"""How a worker process sets its interpreter for 200 threads that mostly wait on sockets:
a higher first GC threshold and a longer GIL switch interval, set once at worker start
(docs/decisions/0007-interpreter-gc-and-switch-interval.md)."""

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

"""Keeping the batch queue filled from the tenants' held messages (promptq/holds.py).

Every worker process runs this loop: one Lua script every REFILL_S moves messages of
the tenants in turn until the shared batch queue is PROMPTQ_BATCH_QUEUE_DEPTH deep. It
runs apart from the relay, whose passes in a busy worker come seconds apart (its thread
waits for the GIL behind 200 job threads at every statement), too seldom to keep a fleet
running ~400 jobs/s fed from a queue 1,000 deep. Moves by several workers at once are
safe: each is one atomic script that stops at the depth.
"""

from __future__ import annotations

import logging
import threading

from promptq import holds
from promptq.workers.runtime import Runtime

log = logging.getLogger(__name__)
REFILL_S = 0.2  # a depth of 1,000 then covers several refills at the fleet's pace
_stop = threading.Event()


def _loop(rt: Runtime) -> None:
    failing = False
    while not _stop.wait(REFILL_S):
        try:
            holds.move(rt.redis, rt.settings.redis_prefix, rt.settings.batch_queue_depth)
            failing = False
        except Exception:  # Redis away: the next pass tries again; said once, not 5 times a second
            if not failing:
                log.warning("refilling the batch queue failed; retrying", exc_info=True)
            failing = True


def start_refill_thread(rt: Runtime) -> threading.Thread:
    _stop.clear()
    thread = threading.Thread(target=_loop, args=(rt,), name="promptq-refill", daemon=True)
    thread.start()
    return thread


def stop_refill_thread() -> None:
    _stop.set()

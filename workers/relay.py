"""The relay: the broker may lose a message, the store never does.

Every worker process runs this loop; a Redis lock lets one of them work each tick.
It re-publishes queued jobs whose message is stale or whose parked wait is over,
re-queues running jobs whose worker stopped renewing their lease, completes batches
whose last jobs finished without completing them, and publishes webhook deliveries
that are due.
"""

from __future__ import annotations

import logging
import threading

from promptq import dispatch, keys
from promptq.store import batches, deliveries, jobs
from promptq.workers.runtime import Runtime

log = logging.getLogger(__name__)
_stop = threading.Event()


def relay_once(rt: Runtime) -> tuple[int, int]:
    """One pass; returns (jobs published, deliveries published)."""
    settings = rt.settings
    due = jobs.due_for_relay(rt.engine, stale_s=settings.relay_stale_s)
    if due:
        dispatch.publish_jobs(settings.redis_url, due)
    due_deliveries = deliveries.due_for_relay(rt.engine, stale_s=settings.relay_stale_s)
    for batch_id in batches.finished_batches(rt.engine):
        due_deliveries += [d.id for d in batches.complete_if_done(rt.engine, batch_id)]
    for delivery_id in due_deliveries:
        dispatch.publish_delivery(settings.redis_url, delivery_id)
    return len(due), len(due_deliveries)


def _loop(rt: Runtime) -> None:
    interval = rt.settings.relay_interval_s
    lock_key = keys.relay_lock(rt.settings.redis_prefix)
    while not _stop.wait(interval):
        try:
            # Held a little less than one interval: one relay per tick across the fleet.
            if not rt.redis.set(lock_key, "1", nx=True, px=int(interval * 900)):
                continue
            published, delivered = relay_once(rt)
            if published or delivered:
                log.info("relay published %d jobs and %d webhook deliveries", published, delivered)
        except Exception:  # keep relaying through DB or Redis hiccups
            log.exception("relay pass failed")


def start_relay_thread(rt: Runtime) -> threading.Thread:
    _stop.clear()
    thread = threading.Thread(target=_loop, args=(rt,), name="promptq-relay", daemon=True)
    thread.start()
    return thread


def stop_relay_thread() -> None:
    _stop.set()

"""The relay: the broker may lose a message, the store never does.

Every worker process runs this loop; a Redis lock lets one of them work each tick, and
is renewed while a pass runs. It re-queues running jobs whose lease lapsed (on the
database's clock), re-publishes queued jobs whose message is evidently lost
(workers/frontier.py) or whose parked wait is over, completes batches whose last jobs
finished without completing them, publishes webhook deliveries that are due, and erases
finished jobs past the retention period (PROMPTQ_RETENTION_DAYS).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from promptq import dispatch, holds, keys
from promptq.store import batches, clock, deliveries, erase, jobs
from promptq.store.status import Priority
from promptq.workers import frontier
from promptq.workers.held_lock import run_held
from promptq.workers.runtime import Runtime
from promptq.workers.spend import relay_pass as bound_spend

log = logging.getLogger(__name__)
_stop = threading.Event()


PURGE_CHUNK = 500  # jobs erased per pass by the retention sweep


def relay_once(rt: Runtime, still_held: Callable[[], bool] = lambda: True) -> tuple[int, int]:
    """One pass; returns (jobs published, deliveries published). `still_held()`: whether
    this pass still holds the relay lock; each step after the first asks it."""
    settings = rt.settings
    bound_spend(rt)  # fails over-lapsed jobs and settles stale ledger rows before the re-queue
    jobs.requeue_lapsed(rt.engine)
    now = clock.now(rt.engine)
    cutoffs = frontier.lost_cutoffs(rt.redis, settings.redis_prefix, [str(p) for p in Priority], now,
                                    settings.relay_stale_s, lambda job_id: jobs.dispatched_at_of(rt.engine, job_id),
                                    lambda ids, tail_ids: jobs.dispatch_times(rt.engine, ids, tail_ids))
    if not still_held():
        return 0, 0
    due = jobs.due_for_relay(rt.engine, now=now, stale_s=settings.relay_stale_s, lost_before=cutoffs)
    direct, held = routes(due)
    if direct:
        dispatch.publish_jobs(settings.redis_url, direct)
    for tenant, job_ids in held.items():  # back through the tenant's list: they take their turn again
        holds.publish(settings.redis_url, settings.redis_prefix, settings.batch_queue_depth, tenant, job_ids)
    if not still_held():
        return len(due), 0
    due_deliveries = deliveries.due_for_relay(rt.engine, now=now, stale_s=settings.relay_stale_s)
    for batch_id in batches.finished_batches(rt.engine):
        due_deliveries += [d.id for d in batches.complete_if_done(rt.engine, batch_id)]
    for delivery_id in due_deliveries:
        dispatch.publish_delivery(settings.redis_url, delivery_id)
    if settings.retention_days and still_held():
        purge(rt)
    return len(due), len(due_deliveries)


def routes(due: Sequence[tuple[str, str, str]]) -> tuple[list[tuple[str, str]], dict[str, list[str]]]:
    """Where to publish (job id, priority, tenant): (job id, queue) pairs published directly,
    and per tenant the batch-queue jobs that go through its hold list (promptq/holds.py)."""
    direct: list[tuple[str, str]] = []
    held: dict[str, list[str]] = {}
    for job_id, priority, tenant in due:
        if priority == holds.BATCH_QUEUE:
            held.setdefault(tenant, []).append(job_id)
        else:
            direct.append((job_id, priority))
    return direct, held


def purge(rt: Runtime) -> int:
    """Erase one chunk of the finished jobs past the retention period, and their live
    events; how many."""
    erased = erase.purge_expired(rt.engine, retention_days=rt.settings.retention_days, limit=PURGE_CHUNK)
    if erased:
        rt.redis.delete(*(keys.job_events(rt.settings.redis_prefix, job_id) for job_id in erased))
        log.info("retention: erased %d finished jobs", len(erased))
    return len(erased)


def _loop(rt: Runtime) -> None:
    interval = rt.settings.relay_interval_s
    lock_key = keys.relay_lock(rt.settings.redis_prefix)
    while not _stop.wait(interval):
        try:
            # Held a little less than one interval after the pass: one relay per tick
            # across the fleet; renewed while the pass runs, however long it takes.
            held, counts = run_held(rt.redis, lock_key, max(int(interval * 900), 100),
                                    lambda still_held: relay_once(rt, still_held))
            if not held or counts is None:
                continue
            published, delivered = counts
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

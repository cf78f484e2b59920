"""Which job messages are evidently lost: those that left their queue long ago, while
their job was never claimed.

Kombu's Redis transport pushes a message on the left of its queue's list and workers
take from the right: the list is first in, first out. The message at the right end (the
next to go) was published when its job was dispatched, so every message published
before that job's `dispatched_at` has left the list: taken by a worker, which claims its
job moments later (or holds it until its countdown), or lost with that worker. Each pass
the relay records that mark per queue; a queued job dispatched before the mark recorded
`stale_s` ago left the list at least `stale_s` ago and was never claimed: its message is
lost. A job whose message still waits in a long queue is behind the mark and is not
published again, however long it waits. An empty list puts the mark at the pass's time.

Marks are kept in Redis (a sorted set per queue, scored by the pass's time) so that
whichever worker holds the relay lock next goes on from them; all times are the
database's (store/clock.py). Only messages without a priority are looked at: promptq
publishes none (kombu keeps one list per priority step).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

import redis

from promptq import keys

# Publishing follows the commit that sets dispatched_at (the API answers first), and
# hosts' clocks differ a little: a mark this close to a dispatch proves nothing.
MARGIN = timedelta(seconds=1)


def tail_job_id(raw: bytes | str | None) -> str | None:
    """The job id of a queued kombu message (its task id), or None if it names none."""
    if raw is None:
        return None
    try:
        message = json.loads(raw)
        return message["headers"]["id"] or None
    except (ValueError, KeyError, TypeError):
        return None


def mark(now: datetime, tail_dispatched_at: datetime | None, list_empty: bool) -> datetime | None:
    """Before which dispatch time every message has left the list: the pass's time for an
    empty list, the dispatch of the job whose message is next to go otherwise; None when
    that job's dispatch is unknown (a message for a job requeued since)."""
    if list_empty:
        return now
    return tail_dispatched_at


def lost_before(mark_then: datetime | None, now: datetime, stale_s: float) -> datetime | None:
    """Jobs still queued and dispatched before this time have lost their message, given the
    mark recorded `stale_s` ago (None: no mark that old yet, so nothing is judged lost)."""
    if mark_then is None:
        return None
    return min(mark_then - MARGIN, now - timedelta(seconds=stale_s))


def _epoch(t: datetime) -> float:
    return t.timestamp()  # the store's datetimes are aware (UTC)


def _from_epoch(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def lost_cutoffs(client: redis.Redis, prefix: str, queues: Iterable[str], now: datetime, stale_s: float,
                 dispatched_at: Callable[[str], datetime | None]) -> dict[str, datetime | None]:
    """Record this pass's mark of each queue and return, per queue, before which dispatch
    time a queued job's message is evidently lost (`lost_before`). `now`: the database's
    time; `dispatched_at(job_id)`: the job's, from the store."""
    cutoffs: dict[str, datetime | None] = {}
    for queue in queues:
        raw = client.lindex(keys.broker_queue(prefix, queue), -1)
        job_id = tail_job_id(raw)
        current = mark(now, dispatched_at(job_id) if job_id else None, raw is None)
        history = keys.relay_marks(prefix, queue)
        pipe = client.pipeline(transaction=False)
        if current is not None:
            pipe.zadd(history, {f"{_epoch(now)}|{_epoch(current)}": _epoch(now)})
        # Marks older than two stale periods are no longer needed (one suffices).
        pipe.zremrangebyscore(history, "-inf", f"({_epoch(now) - 2 * stale_s - 60}")
        pipe.zrevrangebyscore(history, _epoch(now) - stale_s, "-inf", start=0, num=1)
        pipe.expire(history, int(2 * stale_s + 3600))
        then = pipe.execute()[-2]
        mark_then = _from_epoch(float(then[0].decode().split("|")[1])) if then else None
        cutoffs[queue] = lost_before(mark_then, now, stale_s)
    return cutoffs

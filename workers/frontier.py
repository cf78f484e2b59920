"""Which job messages are evidently lost: those that left Redis long ago, while their
job was never claimed.

The rule: each pass the relay records, per queue, a mark: a dispatch time before which
no queued job's message is still in Redis on that queue's path. A queued job dispatched
before the mark recorded `stale_s` ago has had no message in Redis for at least
`stale_s`, yet was never claimed: its message is lost (taken by a worker that died, or
never sent). A job whose message still waits, however long, is not behind any mark.
- interactive (a FIFO list: kombu pushes on the left, workers take from the right): the
  dispatch of the job whose message is next to go (the tail); the pass's time if the
  list is empty; no mark if the tail's job is unknown.
- batch: messages wait first in their tenant's hold list (FIFO), then in the shared
  batch queue, which round-robin moves make not FIFO (promptq/holds.py). The mark is the
  lowest dispatch among every message in the batch queue and each hold list's tail; the
  pass's time if all are empty; no mark if the batch queue is longer than SCAN_LIMIT or a
  hold list's tail names a job of unknown dispatch. One Lua script reads them all at once
  (a message moved between lists during the read is seen in one of them).

Marks are kept in Redis (a sorted set per queue, scored by the pass's time) so that
whichever worker holds the relay lock next goes on from them; all times are the
database's (store/clock.py). Only messages without a priority are looked at: promptq
publishes none (kombu keeps one list per priority step).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta

import redis

from promptq import holds, keys

# Publishing follows the commit that sets dispatched_at (the API answers first), and
# hosts' clocks differ a little: a mark this close to a dispatch proves nothing.
MARGIN = timedelta(seconds=1)
# Batch-queue messages read per pass (the queue is PROMPTQ_BATCH_QUEUE_DEPTH deep); longer: no mark.
SCAN_LIMIT = 5000

# KEYS: the batch queue, the set of tenants holding messages. ARGV: SCAN_LIMIT, the
# prefix of the hold lists' keys. Returns the queue's length, its messages (none when
# longer than the limit), and the tail (oldest message) of each non-empty hold list.
_READ_BATCH_PATH = """
local length = redis.call('LLEN', KEYS[1])
local queued = {}
if length <= tonumber(ARGV[1]) then queued = redis.call('LRANGE', KEYS[1], 0, -1) end
local tails = {}
for _, tenant in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local tail = redis.call('LINDEX', ARGV[2] .. tenant, -1)
  if tail then tails[#tails + 1] = tail end
end
return {length, queued, tails}
"""


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
    """A FIFO list's mark: the pass's time for an empty list, the dispatch of the job whose
    message is next to go otherwise; None when that job's dispatch is unknown (a message
    for a job requeued since)."""
    if list_empty:
        return now
    return tail_dispatched_at


def batch_mark(now: datetime, scanned: bool, queued_min: datetime | None,
               tails: Sequence[datetime | None]) -> datetime | None:
    """The batch path's mark: the lowest of `queued_min` (the lowest dispatch among the
    batch queue's messages; None: none known) and each hold list's tail dispatch; the
    pass's time if none is known; None if the queue was not scanned (too long) or a tail's
    dispatch is unknown (its list's are then unknown too)."""
    if not scanned or any(t is None for t in tails):
        return None
    known = [t for t in (queued_min, *tails) if t is not None]
    return min(known) if known else now


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


DispatchTimes = Callable[[Sequence[str], Sequence[str]], tuple[datetime | None, dict[str, datetime | None]]]


def _current_batch_mark(client: redis.Redis, prefix: str, now: datetime,
                        dispatch_times: DispatchTimes) -> datetime | None:
    length, queued, raw_tails = client.eval(_READ_BATCH_PATH, 2, *holds.keys(prefix)[:2], SCAN_LIMIT,
                                            holds.hold_list_key(prefix, ""))
    queued_ids = [i for i in map(tail_job_id, queued) if i]
    tail_ids = [tail_job_id(raw) for raw in raw_tails]
    queued_min, tail_times = dispatch_times(queued_ids, [i for i in tail_ids if i])
    return batch_mark(now, int(length) <= SCAN_LIMIT, queued_min,
                      [tail_times.get(i) if i else None for i in tail_ids])


def lost_cutoffs(client: redis.Redis, prefix: str, queues: Iterable[str], now: datetime, stale_s: float,
                 dispatched_at: Callable[[str], datetime | None],
                 dispatch_times: DispatchTimes) -> dict[str, datetime | None]:
    """Record this pass's mark of each queue and return, per queue, before which dispatch
    time a queued job's message is evidently lost (`lost_before`). `now`: the database's
    time; `dispatched_at(job_id)`: the job's, from the store; `dispatch_times(ids,
    tail_ids)`: the lowest dispatch among `ids`, and each of `tail_ids`'."""
    cutoffs: dict[str, datetime | None] = {}
    for queue in queues:
        if queue == holds.BATCH_QUEUE:
            current = _current_batch_mark(client, prefix, now, dispatch_times)
        else:
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

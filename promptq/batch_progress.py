"""Which finishing job should look whether its batch is done: a countdown on Redis.

Asking the store "is any job of this batch still open?" after every job costs a query
per job; the countdown lets only the job that takes it to zero ask. It is a hint, the
store stays the truth: a missing key (Redis flushed, the API died before setting it)
counts below zero and every finishing job asks again, as without it; a job whose
worker died between its commit and the countdown leaves the batch to the relay, which
completes batches with no open job whatever the countdown says.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import redis

from promptq import keys

TTL_S = 7 * 24 * 3600  # longer than any batch should stay open


@lru_cache(maxsize=4)
def _client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url, socket_timeout=10, socket_connect_timeout=5)


def start(redis_url: str, prefix: str, batch_id: str, total: int) -> None:
    """A new batch of `total` jobs (before its jobs are published)."""
    _client(redis_url).set(keys.batch_open(prefix, batch_id), total, ex=TTL_S)


def count_finished(client: redis.Redis, prefix: str, batch_ids: Sequence[str]) -> set[str]:
    """One more job of each batch in `batch_ids` finished (a batch listed twice: two
    jobs), in one round trip. Returns the batches that may be done (ask the store)."""
    pipe = client.pipeline(transaction=False)
    for batch_id in batch_ids:
        pipe.decr(keys.batch_open(prefix, batch_id))
    return {batch_id for batch_id, left in zip(batch_ids, pipe.execute()) if int(left) <= 0}

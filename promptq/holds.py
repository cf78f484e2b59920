"""Fairness between tenants on the batch queue: each tenant's batch messages wait in a
list of its own, and are moved into the shared `batch` queue round-robin, one tenant's
message after another's, only as far as PROMPTQ_BATCH_QUEUE_DEPTH.

So one tenant's 10,000 documents are never more than that depth in front of another
tenant's, and a tenant alone still fills the fleet: the queue is refilled by the API
after each submit and by the relay every tick (`move`, one Lua script: no Python per
message, which a worker's relay thread, competing for the GIL with 200 job threads,
could publish only at a fraction of the fleet's pace). The messages are the ordinary
Celery messages (published to the tenant's list by name, promptq/dispatch.py), so a
worker runs a moved one as any other; the store is unchanged, and a message lost here
is re-published by the relay's stale sweep like any lost message.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import redis

from promptq import dispatch

BATCH_QUEUE = "batch"


def hold_queue(tenant: str) -> str:
    """The Celery queue name (a routing key on the anonymous exchange) of a tenant's list."""
    return f"{BATCH_QUEUE}.hold.{tenant}"


def _broker(prefix: str) -> str:
    return f"{prefix}:celery:"  # celeryconfig's global_keyprefix


def hold_list_key(prefix: str, tenant: str) -> str:
    """The Redis key of a tenant's list (with tenant "": the prefix of every such key)."""
    return _broker(prefix) + hold_queue(tenant)


def keys(prefix: str) -> list[str]:
    """The script's KEYS: the batch queue, the set of tenants with a list, the rotation."""
    return [_broker(prefix) + BATCH_QUEUE, _broker(prefix) + "batch.holders", _broker(prefix) + "batch.turn"]


# KEYS: the batch queue, the set of tenants holding messages, a counter of passes.
# ARGV: the depth, the prefix of the tenants' list keys, of their queue names. Moves one message of each tenant in
# turn (starting one tenant further each pass, so small refills are shared too) until the
# queue holds `depth` or every list is empty; a tenant whose list is empty leaves the set.
# Each list's order is kept: its oldest out, onto the end of the queue the workers read last.
_MOVE = """
local room = tonumber(ARGV[1]) - redis.call('LLEN', KEYS[1])
if room <= 0 then return 0 end
local tenants = redis.call('SMEMBERS', KEYS[2])
if #tenants == 0 then return 0 end
table.sort(tenants)
local start = redis.call('INCR', KEYS[3]) % #tenants
local order = {}
for i = 1, #tenants do order[i] = tenants[((start + i - 1) % #tenants) + 1] end
local moved = 0
while room > 0 and #order > 0 do
  local left = {}
  for _, tenant in ipairs(order) do
    if room > 0 then
      local message = redis.call('RPOP', ARGV[2] .. tenant)
      if message then
        -- routed to the batch queue: a worker's warm shutdown puts it back there, not here
        local from = '"routing_key": "' .. ARGV[3] .. tenant .. '"'
        local at = string.find(message, from, 1, true)
        if at then
          message = string.sub(message, 1, at - 1) .. '"routing_key": "batch"' .. string.sub(message, at + #from)
        end
        redis.call('LPUSH', KEYS[1], message)
        moved = moved + 1
        room = room - 1
        left[#left + 1] = tenant
      else
        redis.call('SREM', KEYS[2], tenant)
      end
    end
  end
  order = left
end
return moved
"""


@lru_cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def move(client: redis.Redis, prefix: str, depth: int) -> int:
    """Refill the batch queue from the tenants' lists up to `depth`; returns how many moved."""
    return int(client.eval(_MOVE, 3, *keys(prefix), depth, hold_list_key(prefix, ""), hold_queue("")))


def publish(redis_url: str, prefix: str, depth: int, tenant: str, job_ids: Sequence[str]) -> int:
    """Publish a tenant's batch-queue jobs onto its list, refilling the batch queue after
    each pipeline of them (so a batch starts as soon as the first are out, when the queue
    has room); returns how many were published."""
    client, count = _client(redis_url), 0
    client.sadd(keys(prefix)[1], tenant)  # before the messages too: the relay reads the holders' lists
    for i in range(0, len(job_ids), dispatch.PUBLISH_BATCH):
        count += dispatch.publish_jobs(redis_url, [(job_id, hold_queue(tenant))
                                                   for job_id in job_ids[i:i + dispatch.PUBLISH_BATCH]])
        client.sadd(keys(prefix)[1], tenant)  # after the messages: a move never drops a tenant with some
        move(client, prefix, depth)
    return count

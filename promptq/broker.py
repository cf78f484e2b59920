"""The broker transport: kombu's Redis transport, with one Redis client per channel,
messages taken as many at a time as the worker has room for, and room for a few more
messages than the worker has threads.

One client per channel: kombu's Redis channel builds a new `redis.Redis` for every
operation without a client of its own (every publish; with ack emulation, every ack
and unacked-index update too), and redis-py builds a ~170-entry response-callback
table in each constructor (redis/redis-py#3624, fix proposed in #4124): ~0.14 ms of
CPU per operation. A client is thread-safe (each command takes a connection from the pool),
so one per channel and connection pool serves all the channel's threads.

Intake: kombu takes one message per BRPOP, and the worker's main thread must win the
GIL from up to 200 busy pool threads for every step of every round trip, so a worker
took ~100 messages/s and left half its threads idle with thousands of messages waiting
(1 s provider latency: ~220 of 400 messages reserved). After each BRPOP the channel
now also pops, in one script, as many more as its prefetch window has room for but at
most half of those waiting (so that a short burst is shared between workers: all of it
to whichever read first would run it on one process's GIL); each is delivered and
held until acknowledged exactly as a BRPOP'd one (in the worker's memory: celeryconfig.py
turns kombu's ack emulation off). The script needs RPOP with a count (Redis ≥ 6.2); on
an older Redis it fails once and the channel stays at one message per BRPOP. A worker
killed holding messages loses them from the broker, however they were read: their
jobs stay queued (or running, until their lease lapses) in the store, and the relay
publishes them again (PROMPTQ_RELAY_STALE_S, PROMPTQ_JOB_LEASE_S).
docs/decisions/0004-broker-intake-script.md.

Headroom: Celery asks for as many messages as the worker has threads
(concurrency × prefetch multiplier 1), so a thread that finishes waits until its ack
has freed a place, the main thread has won the GIL for the next read, and the
message has crossed the pool's queue. The channel holds `prefetch_headroom` × that
many more (PROMPTQ_WORKER_PREFETCH_HEADROOM, 0.1: 220 for 200 threads), waiting in
the pool's queue for the next free thread. The price: an interactive job can wait
behind that many batch messages a worker has already taken (a multiplier of 2 would
make it 200). docs/decisions/0005-prefetch-headroom.md.

Selected by `broker_transport` in celeryconfig.py; the broker URL stays `redis://…`
(Flower reads its scheme).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
import logging
import math
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads
from redis.exceptions import ResponseError

log = logging.getLogger(__name__)


class Channel(kombu_redis.Channel):
    _shared_client: Any = None
    _more_per_read = True  # cleared when Redis cannot (before 6.2)
    # broker_transport_options["prefetch_headroom"]: a fraction of the worker's threads
    from_transport_options = kombu_redis.Channel.from_transport_options + ("prefetch_headroom",)
    prefetch_headroom = 0.0
    _headroom_messages: int | None = None

    def basic_qos(self, prefetch_size: int = 0, prefetch_count: int = 0, apply_global: bool = False) -> None:
        if self._headroom_messages is None and prefetch_count > 0:
            # Celery's first count is the worker's threads (concurrency × multiplier 1); it
            # raises it later by one for each countdown message it holds, which takes no thread.
            self._headroom_messages = headroom_messages(prefetch_count, self.prefetch_headroom)
        extra = self._headroom_messages or 0
        super().basic_qos(prefetch_size, prefetch_count + extra if prefetch_count > 0 else 0, apply_global)

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        shared = self._shared_client
        if shared is None or shared.connection_pool is not self.pool:  # the pool is rebuilt after a fork or close
            shared = self._shared_client = self._create_client()
        yield shared

    def _brpop_read(self, **options: Any) -> bool:
        delivered = super()._brpop_read(**options)  # one message, or Empty
        room = self.qos.can_consume_max_estimate()
        if self._more_per_read and room:  # None: no prefetch limit, i.e. one message at a time as before
            self._pop_more(room)
        return delivered

    def _pop_more(self, room: int) -> None:
        """Deliver up to `room` more waiting messages, but at most half of those waiting
        (at least one), from the first non-empty queue in the order the next BRPOP would
        try them (priority steps included)."""
        queues = self._queue_cycle.consume(len(self.active_queues))
        # Scripts' keys are not among what kombu's prefixing client rewrites: prefix here.
        keys = [self.global_keyprefix + self._q_for_pri(queue, pri)
                for pri in self.priority_steps for queue in queues]
        if not keys:
            return
        # On the BRPOP connection, idle between its reply and the next BRPOP, and as kombu
        # sends BRPOP: without redis-py's retries, which could reconnect a socket that
        # kombu's poller watches.
        connection = self.client.connection
        try:
            connection.send_command("EVAL", _POP_HALF, len(keys), *keys, room)
            popped = self.client.parse_response(connection, "EVAL")
        except ResponseError as exc:
            # A Redis before 6.2 (RPOP without a count) stays so; anything else (out of
            # memory, a busy script) passes: this read took its one message.
            if any(cause in str(exc).lower() for cause in ("wrong number of arguments", "unknown command")):
                Channel._more_per_read = False
                log.warning("this Redis cannot pop several messages at once (RPOP with a count needs "
                            "Redis >= 6.2): workers take one message per read")
            return
        except self.connection_errors:
            connection.disconnect()  # the next BRPOP reconnects, as after a failed BRPOP
            return
        if not popped:
            return
        key, items = popped
        queue = bytes_to_str(key)[len(self.global_keyprefix):].rsplit(self.sep, 1)[0]
        for item in items:
            self.connection._deliver(loads(bytes_to_str(item)), queue)


def headroom_messages(threads: int, headroom: float) -> int:
    """How many messages beyond its `threads` a worker holds: `headroom` × them, rounded up."""
    return math.ceil(threads * headroom)


# KEYS: queue lists in the order to try them; ARGV[1]: the most to take. Half of what
# waits (at least one): a burst is shared with the other workers instead of all going to
# whichever read first, while a long queue still fills the whole room in one read.
_POP_HALF = """
for _, key in ipairs(KEYS) do
  local waiting = redis.call('LLEN', key)
  if waiting > 0 then
    local take = math.min(tonumber(ARGV[1]), math.max(1, math.floor(waiting / 2)))
    return {key, redis.call('RPOP', key, take)}
  end
end
return false
"""


class Transport(kombu_redis.Transport):
    Channel = Channel


TRANSPORT = f"{__name__}:Transport"  # the value of celeryconfig.broker_transport

"""The broker transport: kombu's Redis transport, with one Redis client per channel and
messages taken as many at a time as the worker has room for.

One client per channel: kombu's Redis channel builds a new `redis.Redis` for every
operation without a client of its own (every publish, every ack, every unacked-index
update), and redis-py builds a ~170-entry response-callback table in each constructor
(redis/redis-py#3624, fix proposed in #4124): ~0.14 ms of CPU per operation, three or
more per job. A client is thread-safe (each command takes a connection from the pool),
so one per channel and connection pool serves all the channel's threads.

Intake: kombu takes one message per BRPOP, and the worker's main thread must win the
GIL from up to 200 busy pool threads for every step of every round trip, so a worker
took ~100 messages/s and left half its threads idle with thousands of messages waiting
(1 s provider latency: ~220 of 400 messages reserved). After each BRPOP the channel
now also pops, in one LMPOP (Redis ≥ 7.0), as many more as its prefetch window has
room for; each is delivered and recorded as unacknowledged exactly as a BRPOP'd one.
On an older Redis, LMPOP is an unknown command and the channel stays at one message
per BRPOP. A worker killed between the pop and the last of those records loses those
messages from the broker, as kombu loses a BRPOP'd one in the same window: their jobs
stay queued in the store, and the relay publishes them again after
PROMPTQ_RELAY_STALE_S. Measured with `python -m bench.ab` (figures in README's
benchmark section).

Selected by `broker_transport` in celeryconfig.py; the broker URL stays `redis://…`
(Flower reads its scheme).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads
from redis.exceptions import ResponseError


class Channel(kombu_redis.Channel):
    _shared_client: Any = None
    _lmpop = True  # cleared on the first "unknown command" (Redis < 7.0)

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
        if self._lmpop and room:  # None: no prefetch limit, i.e. one message at a time as before
            self._pop_more(room)
        return delivered

    def _pop_more(self, count: int) -> None:
        """Deliver up to `count` more waiting messages, from the first non-empty queue in
        the order the next BRPOP would try them (priority steps included)."""
        queues = self._queue_cycle.consume(len(self.active_queues))
        # LMPOP is not among the commands kombu's prefixing client rewrites: prefix here.
        keys = [self.global_keyprefix + self._q_for_pri(queue, pri)
                for pri in self.priority_steps for queue in queues]
        if not keys:
            return
        # On the BRPOP connection, idle between its reply and the next BRPOP, and as kombu
        # sends BRPOP: without redis-py's retries, which could reconnect a socket that
        # kombu's poller watches.
        connection = self.client.connection
        try:
            connection.send_command("LMPOP", len(keys), *keys, "RIGHT", "COUNT", count)
            popped = self.client.parse_response(connection, "LMPOP")
        except ResponseError as exc:
            if "unknown command" in str(exc).lower():
                Channel._lmpop = False
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


class Transport(kombu_redis.Transport):
    Channel = Channel


TRANSPORT = f"{__name__}:Transport"  # the value of celeryconfig.broker_transport

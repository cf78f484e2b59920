"""The broker transport: kombu's Redis transport, with one Redis client per channel.

kombu's Redis channel builds a new `redis.Redis` for every operation without a client
of its own (every publish, every ack, every unacked-index update), and redis-py builds
a ~170-entry response-callback table in each constructor (redis/redis-py#3624, fix
proposed in #4124): ~0.14 ms of CPU per operation, three or more per job. A client is
thread-safe (each command takes a connection from the pool), so one per channel and
connection pool serves all the channel's threads. Selected by `broker_transport` in
celeryconfig.py; the broker URL stays `redis://…` (Flower reads its scheme).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    _shared_client: Any = None

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        shared = self._shared_client
        if shared is None or shared.connection_pool is not self.pool:  # the pool is rebuilt after a fork or close
            shared = self._shared_client = self._create_client()
        yield shared


class Transport(kombu_redis.Transport):
    Channel = Channel


TRANSPORT = f"{__name__}:Transport"  # the value of celeryconfig.broker_transport

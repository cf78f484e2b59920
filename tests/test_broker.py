"""The broker transport: kombu's Redis transport with one client per channel."""

from __future__ import annotations

import os
import uuid

import redis
from kombu import Connection

import celeryconfig
from promptq.broker import TRANSPORT
from support import REDIS_URL


def _connection(prefix: str) -> Connection:
    return Connection(REDIS_URL, transport=TRANSPORT, transport_options={"global_keyprefix": f"{prefix}:"})


def test_celery_uses_the_transport_and_keeps_a_redis_url():
    assert celeryconfig.broker_transport == TRANSPORT
    assert celeryconfig.broker_url.startswith("redis://")  # Flower picks its broker view by the scheme


def test_messages_go_through_redis_and_back():
    # under the session's prefix, which the session's cleanup removes from Redis
    prefix = f"{os.environ['PROMPTQ_REDIS_PREFIX']}-broker-{uuid.uuid4().hex[:8]}"
    with _connection(prefix) as conn:
        queue = conn.SimpleQueue("q")
        for i in range(3):
            queue.put({"n": i})
        assert redis.Redis.from_url(REDIS_URL).llen(f"{prefix}:q") == 3  # under the deployment's prefix
        got = []
        for _ in range(3):
            message = queue.get(timeout=5)
            got.append(message.payload["n"])
            message.ack()
        assert got == [0, 1, 2]
        queue.close()


def test_a_channel_reuses_one_client_until_its_pool_changes():
    with _connection(f"{os.environ['PROMPTQ_REDIS_PREFIX']}-broker") as conn:
        channel = conn.default_channel
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
            assert first is second
            assert first.connection_pool is channel.pool
        channel._pool = None  # what kombu does after a fork or on close
        with channel.conn_or_acquire() as third:
            assert third is not first and third.connection_pool is channel.pool
        explicit = object()
        with channel.conn_or_acquire(explicit) as given:
            assert given is explicit

"""The broker transport: kombu's Redis transport with one client per channel."""

from __future__ import annotations

import os
import uuid

import redis
from kombu import Connection

import pytest

import celeryconfig
from promptq.broker import TRANSPORT, headroom_messages
from promptq.settings import get_settings
from support import REDIS_URL


def _connection(prefix: str, **options: object) -> Connection:
    """A connection under `prefix`, acknowledging as the deployment does; no headroom
    unless given."""
    deployed = {"ack_emulation": celeryconfig.broker_transport_options["ack_emulation"]}
    return Connection(REDIS_URL, transport=TRANSPORT,
                      transport_options={**deployed, "global_keyprefix": f"{prefix}:", **options})


def _prefix() -> str:
    return f"{os.environ['PROMPTQ_REDIS_PREFIX']}-broker-{uuid.uuid4().hex[:8]}"


def test_celery_uses_the_transport_and_keeps_a_redis_url():
    assert celeryconfig.broker_transport == TRANSPORT
    assert celeryconfig.broker_url.startswith("redis://")  # Flower picks its broker view by the scheme


def test_messages_go_through_redis_and_back():
    prefix = _prefix()  # under the session's prefix, which the session's cleanup removes from Redis
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


def test_the_channel_client_parses_replies_with_hiredis():
    # a declared dependency (redis[hiredis]) that redis-py would silently do without
    from redis._parsers import _HiredisParser

    with _connection(f"{os.environ['PROMPTQ_REDIS_PREFIX']}-broker") as conn:
        with conn.default_channel.conn_or_acquire() as client:
            connection = client.connection_pool.get_connection()
            try:
                assert isinstance(connection._parser, _HiredisParser)
            finally:
                client.connection_pool.release(connection)


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


# Intake: after each BRPOP, more waiting messages in one round trip — as many as the
# prefetch window has room for, but at most half of those waiting (a burst is shared).

def _consume(conn: Connection, queues: list[str], prefetch: int, got: list[tuple[str, int]]) -> None:
    """Start consuming `queues` with `prefetch` credit, appending (queue, n) to `got` for
    each message handed over, without acknowledging."""
    consumer = conn.Consumer([conn.SimpleQueue(q).queue for q in queues],
                             callbacks=[lambda body, message: got.append((message.delivery_info["routing_key"], body["n"]))])
    consumer.qos(prefetch_count=prefetch)
    consumer.consume()


def _drain_once(conn: Connection, queues: list[str], prefetch: int) -> list[tuple[str, int]]:
    """What one event-loop read of a consumer with `prefetch` credit is handed."""
    got: list[tuple[str, int]] = []
    _consume(conn, queues, prefetch, got)
    conn.drain_events(timeout=5)
    return got


def _put(conn: Connection, queue: str, ns: range) -> None:
    q = conn.SimpleQueue(queue)
    for n in ns:
        q.put({"n": n})


def test_a_long_queue_fills_the_prefetch_window_in_one_read():
    prefix = _prefix()
    r = redis.Redis.from_url(REDIS_URL)
    with _connection(prefix) as conn:
        _put(conn, "q", range(40))
        got = _drain_once(conn, ["q"], prefetch=5)
        assert got == [("q", n) for n in range(5)]  # in publishing order
        assert r.llen(f"{prefix}:q") == 35
    # closing the connection without acknowledging hands them back, as a warm shutdown does
    assert r.llen(f"{prefix}:q") == 40


def test_the_deployment_keeps_no_acknowledgement_records_in_redis():
    # The store keeps the jobs; the relay re-publishes a dead worker's (tests/integration/
    # test_recovery.py). kombu's ack emulation would write two MULTIs per message for it.
    assert celeryconfig.broker_transport_options["ack_emulation"] is False
    prefix = _prefix()
    r = redis.Redis.from_url(REDIS_URL)
    with _connection(prefix) as conn:
        _put(conn, "q", range(10))
        assert len(_drain_once(conn, ["q"], prefetch=3)) == 3  # held, not acknowledged
        assert r.llen(f"{prefix}:q") == 7
        assert r.exists(f"{prefix}:unacked", f"{prefix}:unacked_index") == 0
    with _connection(prefix, ack_emulation=True) as conn:  # what this test would see with it on
        _put(conn, "q2", range(10))
        assert len(_drain_once(conn, ["q2"], prefetch=3)) == 3
        assert r.hlen(f"{prefix}:unacked") == 3


def test_a_short_burst_is_shared_half_of_what_waits_per_read():
    prefix = _prefix()
    with _connection(prefix) as first, _connection(prefix) as second:
        _put(first, "q", range(11))
        # one by BRPOP, then half of the ten left: the other five stay for other workers
        assert _drain_once(first, ["q"], prefetch=100) == [("q", n) for n in range(6)]
        assert _drain_once(second, ["q"], prefetch=100) == [("q", n) for n in range(6, 9)]  # 1 + 4 // 2
        assert redis.Redis.from_url(REDIS_URL).llen(f"{prefix}:q") == 2


@pytest.mark.parametrize(("threads", "headroom", "extra"), [
    (200, 0.1, 20),  # the shipped default: 10 % more messages than the worker has threads
    (16, 0.1, 2),    # rounded up: a small worker still holds one more than it runs
    (1, 0.1, 1),
    (200, 0.0, 0),   # none: Celery's count as it is
])
def test_a_worker_holds_a_fraction_of_its_threads_more_rounded_up(threads, headroom, extra):
    assert headroom_messages(threads, headroom) == extra


def test_the_headroom_setting_reaches_the_transport():
    assert celeryconfig.broker_transport_options["prefetch_headroom"] == get_settings().worker_prefetch_headroom
    with _connection(_prefix(), prefetch_headroom=0.5) as conn:
        _put(conn, "q", range(40))
        assert len(_drain_once(conn, ["q"], prefetch=10)) == 15  # what Celery asked for, and half of it more


def test_the_headroom_stays_that_of_the_threads_when_celery_raises_its_count():
    # Celery raises the count by one for each countdown message it holds (no thread runs it)
    with _connection(_prefix(), prefetch_headroom=0.5) as conn:
        channel = conn.default_channel
        channel.basic_qos(prefetch_count=10)
        assert channel.qos.prefetch_count == 15
        channel.basic_qos(prefetch_count=30)
        assert channel.qos.prefetch_count == 35  # not 45
        channel.basic_qos(prefetch_count=0)
        assert channel.qos.prefetch_count == 0  # "no limit" to kombu, and stays so


def test_an_interactive_message_waits_behind_at_most_the_batch_messages_a_worker_holds():
    # README: "an interactive job can wait behind up to 20 batch messages a worker has
    # already taken" (200 threads, headroom 0.1). Here 10 threads: 11 held, no more.
    prefix = _prefix()
    with _connection(prefix, prefetch_headroom=0.1) as conn:
        _put(conn, "batch", range(100, 150))
        held = []
        consumer = conn.Consumer([conn.SimpleQueue(q).queue for q in ("interactive", "batch")],
                                 callbacks=[lambda body, message: held.append((body["n"], message))])
        consumer.qos(prefetch_count=10)
        consumer.consume()
        _drain_until(conn, held, 11, reads=20)
        assert len(held) == 11
        with pytest.raises(TimeoutError):  # the window is full: nothing more is taken
            conn.drain_events(timeout=0.5)
        assert len(held) == 11
        _put(conn, "interactive", [1])
        held[0][1].ack()  # a thread finishes its job: one place frees
        conn.drain_events(timeout=5)
        assert [n for n, _ in held[11:]] == [1]  # the interactive message, before any more batch


def test_a_full_window_takes_one_message_per_read_as_kombu_alone():
    prefix = _prefix()
    with _connection(prefix) as conn:
        _put(conn, "q", range(10))
        assert _drain_once(conn, ["q"], prefetch=1) == [("q", 0)]


def test_extra_messages_are_delivered_to_the_queue_they_came_from():
    prefix = _prefix()
    with _connection(prefix) as conn:
        _put(conn, "interactive", range(0, 2))
        _put(conn, "batch", range(100, 104))
        got = _drain_once(conn, ["interactive", "batch"], prefetch=10)
        # the BRPOP takes from the first queue; the extra pop tries the queues in the order
        # the next BRPOP would (kombu's round robin puts the one just served last), and
        # takes from one queue only: half of its four
        assert got == [("interactive", 0), ("batch", 100), ("batch", 101)]


def _meddle_with_pops(monkeypatch, change, times: int | None = 1) -> None:
    """Redis playing a part at the extra pop: the first `times` (None: every) EVAL the
    channel sends is changed by `change(connection, args)` — which returns the command
    to send instead, or raises — and goes to the real Redis. The channel starts out
    popping several, whatever an earlier test left."""
    from redis.connection import AbstractConnection

    from promptq import broker

    monkeypatch.setattr(broker.Channel, "_more_per_read", True)
    real = AbstractConnection.send_command
    left = {"n": times}

    def meddled(self, *args, **kwargs):
        if args[0] == "EVAL" and left["n"] != 0:
            left["n"] = None if left["n"] is None else left["n"] - 1
            args = change(self, args)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "send_command", meddled)


def _drain_until(conn: Connection, got: list, count: int, reads: int = 4) -> None:
    for _ in range(reads):
        if len(got) < count:
            conn.drain_events(timeout=5)


def test_a_redis_that_cannot_pop_several_gives_one_message_per_read(monkeypatch):
    # Redis before 6.2 answers RPOP with a count as an error: played here by a command this
    # Redis does not know either; the channel stops asking
    from promptq import broker

    _meddle_with_pops(monkeypatch, lambda _, args: ("EVAL_UNKNOWN_HERE", *args[1:]), times=None)
    prefix = _prefix()
    with _connection(prefix) as conn:
        _put(conn, "q", range(4))
        assert _drain_once(conn, ["q"], prefetch=10) == [("q", 0)]
        assert broker.Channel._more_per_read is False
        assert redis.Redis.from_url(REDIS_URL).llen(f"{prefix}:q") == 3  # the rest still waiting


def test_a_connection_lost_at_the_extra_pop_keeps_the_message_and_reconnects(monkeypatch):
    def lost(connection, args):
        connection.disconnect()
        raise redis.ConnectionError("connection lost (test)")

    _meddle_with_pops(monkeypatch, lost)
    with _connection(_prefix()) as conn:
        _put(conn, "q", range(4))
        got: list[tuple[str, int]] = []
        _consume(conn, ["q"], 10, got)
        conn.drain_events(timeout=5)
        assert got == [("q", 0)]  # the BRPOP'd message, delivered; nothing popped by the failed pop
        _drain_until(conn, got, 4)  # the next BRPOPs on a new connection, with extra pops again
        assert got == [("q", n) for n in range(4)]


def test_another_redis_error_at_the_pop_skips_that_pop_only(monkeypatch):
    # e.g. out of memory: played by a script Redis refuses (WRONGTYPE) once
    from promptq import broker

    _meddle_with_pops(monkeypatch, lambda _, args: ("EVAL", "return redis.call('INCR', KEYS[1])", *args[2:]))
    with _connection(_prefix()) as conn:
        _put(conn, "q", range(9))
        got: list[tuple[str, int]] = []
        _consume(conn, ["q"], 10, got)
        conn.drain_events(timeout=5)
        assert got == [("q", 0)] and broker.Channel._more_per_read is True
        conn.drain_events(timeout=5)
        assert got == [("q", n) for n in range(5)]  # one, then half of the seven left

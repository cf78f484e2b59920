"""The relay re-publishes only what is evidently lost: a long backlog is left alone, a
message lost with a worker (or never sent) is published again; its lock is renewed while
a slow pass runs; leases are judged on the database's clock, whatever a worker's says."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import redis
from sqlalchemy import update

from promptq import dispatch, holds, keys
from promptq.launch import forget_redis_prefix
from promptq.settings import Settings
from promptq.store import clock, jobs
from promptq.store.engine import engine_for
from promptq.store.models import Job, utcnow
from promptq.store.status import JobStatus
from promptq.workers import frontier, relay
from promptq.workers.held_lock import run_held
from support import REDIS_URL, fresh_database, queued_jobs, wait_until


@pytest.fixture(scope="module")
def own_database(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The module's own database: a session stack's worker would relay these jobs too."""
    kind = "sqlite" if database_url.startswith("sqlite") else "postgres"
    with fresh_database(kind, tmp_path_factory.mktemp("relay")) as url:
        yield url


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(REDIS_URL)
    yield c
    c.close()


@pytest.fixture
def rt(own_database: str, client: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    """A relay runtime on a Redis prefix of its own, whose publishes are recorded
    (`rt.published`) and pushed onto its queue lists as the broker would."""
    prefix = f"pqrelay-{uuid.uuid4().hex[:8]}"
    published: list[str] = []
    queues: list[str] = []

    def publish(_url: str, due: list[tuple[str, str]]) -> int:
        for job_id, queue in due:
            push(client, prefix, queue, job_id)
            published.append(job_id)
            queues.append(queue)
        return len(due)

    monkeypatch.setattr(dispatch, "publish_jobs", publish)
    runtime = SimpleNamespace(
        settings=Settings(database_url=own_database, redis_prefix=prefix, relay_stale_s=1.0),
        engine=engine_for(own_database), redis=client, published=published, queues=queues)
    yield runtime
    forget_redis_prefix(REDIS_URL, prefix)
    close_open_jobs(runtime.engine)


def close_open_jobs(engine) -> None:
    """Cancel what a test left queued or running: the next test's queues are other lists."""
    with engine.begin() as conn:
        conn.execute(update(Job).where(Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
                     .values(status=JobStatus.CANCELLED))


def push(client: redis.Redis, prefix: str, queue: str, job_id: str) -> None:
    """A job's message into its queue's list, as kombu pushes it (on the left)."""
    client.lpush(keys.broker_queue(prefix, queue), json.dumps({"headers": {"id": job_id}}))


def passes(rt: SimpleNamespace, seconds: float) -> None:
    """Relay passes over `seconds` (several stale periods of marks)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        relay.relay_once(rt)
        time.sleep(0.2)


def test_a_backlog_waiting_longer_than_the_stale_time_is_not_published_again(rt) -> None:
    # 30 batch jobs published two minutes ago, still waiting in their queue behind busy workers
    old = clock.now(rt.engine) - timedelta(minutes=2)
    ids = queued_jobs(rt.engine, 30, dispatched_at=old)
    for job_id in ids:
        push(rt.redis, rt.settings.redis_prefix, "batch", job_id)
    passes(rt, 3 * rt.settings.relay_stale_s)
    assert rt.published == []
    assert rt.redis.llen(keys.broker_queue(rt.settings.redis_prefix, "batch")) == 30


def test_a_message_lost_with_a_worker_is_published_again_and_only_it(rt) -> None:
    now = clock.now(rt.engine)
    # taken from the list by a worker that died holding them...
    lost = queued_jobs(rt.engine, 3, dispatched_at=now - timedelta(minutes=3))
    # ...while the jobs published after them still wait in the list
    waiting = queued_jobs(rt.engine, 10, dispatched_at=now - timedelta(minutes=2))
    for job_id in waiting:
        push(rt.redis, rt.settings.redis_prefix, "batch", job_id)
    wait_until(lambda: relay.relay_once(rt)[0] or rt.published, timeout_s=30, interval_s=0.2,
               what="the lost messages to be published again")
    passes(rt, 2 * rt.settings.relay_stale_s)
    assert sorted(rt.published) == sorted(lost)


def hold(rt: SimpleNamespace, tenant: str, job_ids: list[str]) -> None:
    """Messages waiting in a tenant's hold list (oldest first out), as holds.publish leaves them."""
    for job_id in job_ids:
        push(rt.redis, rt.settings.redis_prefix, holds.hold_queue(tenant), job_id)
    rt.redis.sadd(holds.keys(rt.settings.redis_prefix)[1], tenant)


def test_a_backlog_held_in_its_tenants_list_longer_than_the_stale_time_is_not_published_again(rt) -> None:
    now = clock.now(rt.engine)
    # acme's batch waits in its hold list, two minutes old, while beta's newer jobs fill the batch queue
    held = queued_jobs(rt.engine, 20, dispatched_at=now - timedelta(minutes=2))
    hold(rt, "acme", held)
    for job_id in queued_jobs(rt.engine, 5, tenant_id="beta", dispatched_at=now - timedelta(seconds=30)):
        push(rt.redis, rt.settings.redis_prefix, "batch", job_id)
    passes(rt, 3 * rt.settings.relay_stale_s)
    assert rt.published == []
    assert rt.redis.llen(holds.hold_list_key(rt.settings.redis_prefix, "acme")) == 20


def test_an_older_message_inside_the_batch_queue_is_not_judged_lost(rt) -> None:
    now = clock.now(rt.engine)
    # beta's newer message at the tail (next to go); acme's older ones, moved in after it, inside
    [newer] = queued_jobs(rt.engine, 1, tenant_id="beta", dispatched_at=now - timedelta(minutes=1))
    older = queued_jobs(rt.engine, 5, dispatched_at=now - timedelta(minutes=2))
    for job_id in [newer, *older]:
        push(rt.redis, rt.settings.redis_prefix, "batch", job_id)
    passes(rt, 3 * rt.settings.relay_stale_s)
    assert rt.published == []


def test_a_lost_batch_message_is_published_again_into_its_tenants_hold_list(rt) -> None:
    now = clock.now(rt.engine)
    # taken by a worker that died: in neither the batch queue nor acme's hold list...
    lost = queued_jobs(rt.engine, 3, dispatched_at=now - timedelta(minutes=3))
    # ...while beta's later jobs still wait, in its hold list and in the batch queue
    hold(rt, "beta", queued_jobs(rt.engine, 4, tenant_id="beta", dispatched_at=now - timedelta(minutes=2)))
    for job_id in queued_jobs(rt.engine, 2, tenant_id="beta", dispatched_at=now - timedelta(minutes=2)):
        push(rt.redis, rt.settings.redis_prefix, "batch", job_id)
    wait_until(lambda: relay.relay_once(rt)[0] or rt.published, timeout_s=30, interval_s=0.2,
               what="the lost messages to be published again")
    passes(rt, 2 * rt.settings.relay_stale_s)
    assert sorted(rt.published) == sorted(lost)
    assert set(rt.queues) == {holds.hold_queue("acme")}  # their turn is taken again, after beta's


def test_no_batch_mark_while_the_batch_queue_is_too_long_to_read(rt, monkeypatch) -> None:
    monkeypatch.setattr(frontier, "SCAN_LIMIT", 3, raising=False)
    now = clock.now(rt.engine)
    lost = queued_jobs(rt.engine, 1, dispatched_at=now - timedelta(minutes=3))
    for job_id in queued_jobs(rt.engine, 4, dispatched_at=now - timedelta(minutes=2)):
        push(rt.redis, rt.settings.redis_prefix, "batch", job_id)
    passes(rt, 3 * rt.settings.relay_stale_s)
    assert rt.published == []  # no mark, so nothing judged lost: later, once the queue is shorter
    rt.redis.rpop(keys.broker_queue(rt.settings.redis_prefix, "batch"))
    wait_until(lambda: relay.relay_once(rt)[0] or rt.published, timeout_s=30, interval_s=0.2,
               what="the lost message to be published again")
    assert rt.published == lost


def test_dispatch_times(rt) -> None:
    now = clock.now(rt.engine)
    first, second = queued_jobs(rt.engine, 2, dispatched_at=now - timedelta(minutes=2))
    with rt.engine.begin() as conn:
        conn.execute(update(Job).where(Job.id == second).values(dispatched_at=now - timedelta(minutes=1)))
    lowest, each = jobs.dispatch_times(rt.engine, [first, second, "job_unknown"], [second, "job_unknown"])
    assert abs(lowest - (now - timedelta(minutes=2))) < timedelta(seconds=1)
    assert set(each) == {second} and abs(each[second] - (now - timedelta(minutes=1))) < timedelta(seconds=1)
    assert jobs.dispatch_times(rt.engine, [], []) == (None, {})


def test_a_job_whose_message_never_reached_an_empty_queue_is_published(rt) -> None:
    [job_id] = queued_jobs(rt.engine, 1, dispatched_at=clock.now(rt.engine))
    assert relay.relay_once(rt) == (0, 0)  # no mark old enough yet: nothing is judged lost
    wait_until(lambda: relay.relay_once(rt)[0], timeout_s=30, interval_s=0.2, what="the job to be published")
    assert rt.published == [job_id]
    passes(rt, 2 * rt.settings.relay_stale_s)  # published once, not once per stale period
    assert rt.published == [job_id]


def test_the_tail_of_a_real_queue_names_its_job(client: redis.Redis) -> None:
    # What kombu really pushes (a queue of its own, that no worker reads)
    queue = f"frontier-probe-{uuid.uuid4().hex[:6]}"
    settings = Settings()
    dispatch.publish_jobs(settings.redis_url, [("job_first", queue), ("job_second", queue)])
    key = keys.broker_queue(settings.redis_prefix, queue)
    try:
        assert frontier.tail_job_id(client.lindex(key, -1)) == "job_first"
    finally:
        client.delete(key)


T = datetime(2026, 1, 1, 12, 0, 0)


@pytest.mark.parametrize(("raw", "job_id"), [
    (None, None), (b"not json", None), (b"{}", None), (b'{"headers": {}}', None),
    (b'{"headers": {"id": null}}', None), (b'{"headers": {"id": "job_1"}}', "job_1"), (b"[1]", None),
])
def test_tail_job_id(raw, job_id) -> None:
    assert frontier.tail_job_id(raw) == job_id


@pytest.mark.parametrize(("tail_dispatched_at", "empty", "expected"), [
    (None, True, T),                                   # empty list: everything before now has left
    (T - timedelta(minutes=5), False, T - timedelta(minutes=5)),  # the oldest waiting message's dispatch
    (None, False, None),                               # a message whose job's dispatch is unknown
])
def test_mark(tail_dispatched_at, empty, expected) -> None:
    assert frontier.mark(T, tail_dispatched_at, empty) == expected


@pytest.mark.parametrize(("scanned", "queued_min", "tails", "expected"), [
    (True, None, [], T),                                             # all empty: the pass's time
    (True, T - timedelta(minutes=5), [], T - timedelta(minutes=5)),  # the queue's lowest dispatch
    (True, T - timedelta(minutes=5), [T - timedelta(minutes=9), T - timedelta(minutes=1)],
     T - timedelta(minutes=9)),                                      # an older tenant's held message
    (True, None, [T - timedelta(minutes=2)], T - timedelta(minutes=2)),  # only held messages
    (True, T - timedelta(minutes=5), [None], None),                  # a held message of an unknown job
    (False, T - timedelta(minutes=5), [], None),                     # the queue was too long to read
])
def test_batch_mark(scanned, queued_min, tails, expected) -> None:
    assert frontier.batch_mark(T, scanned, queued_min, tails) == expected


@pytest.mark.parametrize(("due", "direct", "held"), [
    ([], [], {}),
    ([("j1", "interactive", "acme")], [("j1", "interactive")], {}),
    ([("j1", "batch", "acme"), ("j2", "batch", "beta"), ("j3", "interactive", "acme"), ("j4", "batch", "acme")],
     [("j3", "interactive")], {"acme": ["j1", "j4"], "beta": ["j2"]}),
])
def test_routes(due, direct, held) -> None:
    assert relay.routes(due) == (direct, held)


@pytest.mark.parametrize(("mark_then", "stale_s", "expected"), [
    (None, 60, None),                                  # no mark that old yet
    (T - timedelta(minutes=10), 60, T - timedelta(minutes=10, seconds=1)),
    (T - timedelta(seconds=30), 60, T - timedelta(seconds=60)),  # never younger than the stale time
])
def test_lost_before(mark_then, stale_s, expected) -> None:
    assert frontier.lost_before(mark_then, T, stale_s) == expected


def test_the_relay_lock_is_renewed_while_a_slow_pass_runs(client: redis.Redis) -> None:
    key = f"pqrelay-{uuid.uuid4().hex[:8]}:relay:lock"
    others: list[bool] = []

    def slow_pass(still_held) -> str:
        end = time.monotonic() + 4.0  # four lock periods
        while time.monotonic() < end:
            others.append(run_held(client, key, 1000, lambda _: "second")[0])
            assert still_held()
            time.sleep(0.05)
        return "first"

    try:
        assert run_held(client, key, 1000, slow_pass) == (True, "first")
        assert others and not any(others)
        # after the pass it lapses on its own: the next tick's relay takes it
        wait_until(lambda: run_held(client, key, 1000, lambda _: True)[0], timeout_s=10, what="the lock to lapse")
    finally:
        client.delete(key)


def test_a_pass_that_lost_its_lock_is_told_so(client: redis.Redis) -> None:
    key = f"pqrelay-{uuid.uuid4().hex[:8]}:relay:lock"

    def pass_(still_held) -> bool:
        client.set(key, "another relay")  # the lock lapsed and another took it
        wait_until(lambda: not still_held(), timeout_s=10, what="the renewal to notice")
        return True

    try:
        assert run_held(client, key, 600, pass_) == (True, True)
        assert client.get(key) == b"another relay"  # never extended or taken back
    finally:
        client.delete(key)


@pytest.mark.parametrize("skew", [timedelta(minutes=-10), timedelta(minutes=10)])
def test_leases_are_judged_on_the_database_clock(own_database: str, monkeypatch, skew: timedelta) -> None:
    engine = engine_for(own_database)
    close_open_jobs(engine)
    [job_id] = queued_jobs(engine, 1)
    with monkeypatch.context() as worker_clock:  # the worker's clock is off; the relay's is right
        worker_clock.setattr(jobs, "utcnow", lambda: utcnow() + skew)
        claim = jobs.claim(engine, job_id, lease_s=3.0)
        assert claim is not None
        assert jobs.renew_leases(engine, [claim.token], 3.0) == 1
    # A worker ten minutes behind still holds its lease for everyone else...
    assert jobs.requeue_lapsed(engine) == 0
    # ...and one ten minutes ahead loses it when it stops renewing, not ten minutes later.
    wait_until(lambda: jobs.requeue_lapsed(engine) == 1, timeout_s=30, interval_s=0.5,
               what="the lease to lapse on the database's clock")


def test_the_database_clock_is_utc(own_database: str) -> None:
    assert abs(clock.now(engine_for(own_database)) - datetime.now(UTC)) < timedelta(minutes=1)

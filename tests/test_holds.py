"""Tenants' held batch messages moved into the batch queue in turn (promptq/holds.py),
against a real Redis: what the workers would read, in the order they would read it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
import redis

from promptq import holds
from promptq.launch import forget_redis_prefix
from support import REDIS_URL


@pytest.fixture
def prefix() -> Iterator[str]:
    value = f"pqtest-holds-{uuid.uuid4().hex[:8]}"
    yield value
    forget_redis_prefix(REDIS_URL, value)


@pytest.fixture
def client() -> redis.Redis:
    return redis.Redis.from_url(REDIS_URL)


def read_order(client: redis.Redis, prefix: str) -> list[str]:
    """The batch queue's job ids in the order workers take them (BRPOP: oldest first)."""
    return [json.loads(m)["headers"]["id"] for m in reversed(client.lrange(f"{prefix}:celery:batch", 0, -1))]


def message(job_id: str, tenant: str) -> str:
    """A message as kombu writes it (json.dumps), reduced to what the script reads."""
    return json.dumps({"body": "W10=", "headers": {"id": job_id}, "properties": {
        "delivery_info": {"exchange": "", "routing_key": holds.hold_queue(tenant)}}})


def hold(prefix: str, depth: int, tenant: str, n: int) -> list[str]:
    """What holds.publish does, without the Celery producer (whose key prefix is the
    session's): the messages onto the tenant's list, the tenant into the set, a move."""
    client = redis.Redis.from_url(REDIS_URL)
    ids = [f"job_{tenant}{i}" for i in range(n)]
    client.lpush(f"{prefix}:celery:{holds.hold_queue(tenant)}", *(message(i, tenant) for i in ids))
    client.sadd(holds.keys(prefix)[1], tenant)
    holds.move(client, prefix, depth)
    return ids


@pytest.mark.parametrize(("depth", "sizes", "expected"), [
    # one tenant alone: the queue fills to its depth, in submission order
    (3, {"a": 5}, ["a0", "a1", "a2"]),
    # a second tenant behind a full queue waits until it has room, then goes in turn
    (3, {"a": 5, "b": 2}, ["a0", "a1", "a2"]),
    # room for everything: each tenant's whole list, in its order
    (10, {"a": 2, "b": 2}, ["a0", "a1", "b0", "b1"]),
])
def test_a_move_fills_the_queue_to_its_depth(prefix, client, depth, sizes, expected) -> None:
    for tenant, n in sizes.items():
        hold(prefix, depth, tenant, n)
    assert read_order(client, prefix) == [f"job_{x}" for x in expected]


def test_a_refill_takes_one_message_of_each_tenant_in_turn(prefix, client) -> None:
    hold(prefix, 2, "a", 6)
    hold(prefix, 2, "b", 3)
    client.delete(f"{prefix}:celery:batch")  # a worker took a0 and a1

    assert holds.move(client, prefix, 6) == 6

    moved = read_order(client, prefix)
    assert sorted(moved) == [f"job_a{i}" for i in range(2, 5)] + [f"job_b{i}" for i in range(3)]
    tenants = [job_id[4] for job_id in moved]
    assert tenants in (list("ababab"), list("bababa"))  # alternating, whoever starts
    assert [j for j in moved if j.startswith("job_a")] == ["job_a2", "job_a3", "job_a4"]  # each in order


def test_small_refills_do_not_always_favour_the_same_tenant(prefix, client) -> None:
    hold(prefix, 1, "a", 10)
    hold(prefix, 1, "b", 10)
    firsts = []
    for _ in range(6):
        client.delete(f"{prefix}:celery:batch")
        holds.move(client, prefix, 1)
        firsts.append(read_order(client, prefix)[0][4])
    assert set(firsts) == {"a", "b"}


def test_an_emptied_tenant_leaves_and_a_new_batch_brings_it_back(prefix, client) -> None:
    hold(prefix, 10, "a", 2)
    assert client.smembers(holds.keys(prefix)[1]) == set()  # all moved: nothing held
    client.delete(f"{prefix}:celery:batch")
    hold(prefix, 10, "a", 1)
    assert read_order(client, prefix) == ["job_a0"]


def test_a_moved_message_is_routed_to_the_batch_queue(prefix, client) -> None:
    """A worker's warm shutdown puts a message it took back where its routing key says:
    the batch queue, not the tenant's list (which may have left the set)."""
    hold(prefix, 5, "t:one", 1)
    [message] = client.lrange(f"{prefix}:celery:batch", 0, -1)
    assert json.loads(message)["properties"]["delivery_info"]["routing_key"] == "batch"

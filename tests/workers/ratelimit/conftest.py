"""Fixtures: a Redis client on the test database, a key prefix of each test's own,
and the backends to run every behaviour test over."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from promptq.launch import forget_redis_prefix
from promptq.workers.ratelimit import LimitTable, MemoryBackend, RateLimiter, RedisBackend

REDIS_URL = os.environ.get("PROMPTQ_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
MODEL = ("sim", "sim-model")


def new_client() -> redis.Redis:
    return redis.Redis.from_url(REDIS_URL)


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = new_client()
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    yield client
    client.close()


@pytest.fixture
def prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A key prefix no other test uses; its keys are deleted afterwards (only those)."""
    value = f"pqtest-{uuid.uuid4().hex[:12]}"
    yield value
    forget_redis_prefix(REDIS_URL, value)


@pytest.fixture(params=["memory", "redis"])
def backend_factory(request: pytest.FixtureRequest) -> Callable[[], Any]:
    """Makes backends that share one store: same memory, or same Redis and prefix
    through a separate client each (a separate worker)."""
    if request.param == "memory":
        shared = MemoryBackend()
        return lambda: shared
    prefix = request.getfixturevalue("prefix")
    clients: list[redis.Redis] = []

    def make() -> RedisBackend:
        clients.append(new_client())
        return RedisBackend(clients[-1], prefix=prefix)

    request.addfinalizer(lambda: [c.close() for c in clients])
    return make


# Published numbers are enforced as they are, with 10 s of burst.
EXACT_POLICY = {"target_fraction": 1.0, "burst_s": 10.0}


def table(policy: dict[str, float] | None = None, **limits: int) -> LimitTable:
    """A table limiting MODEL only, with ``EXACT_POLICY`` unless told (``{}``:
    the production default)."""
    provider, model = MODEL
    return LimitTable.from_dict({
        "policy": EXACT_POLICY if policy is None else policy,
        "limits": [{"provider": provider, "models": [model], **limits}],
    })


@pytest.fixture(params=[0.0, 0.1], ids=["per-call", "leased"])
def lease_s(request: pytest.FixtureRequest) -> float:
    """Every behaviour holds with each call reserved alone and with leases of 0.1 s (the
    worker's default): the tests' calls come within a lease of each other."""
    return request.param


@pytest.fixture
def make_limiter(backend_factory: Callable[[], Any], lease_s: float) -> Callable[..., RateLimiter]:
    """``make_limiter(requests_per_minute=60, ...)``: a new limiter (a new worker) on the shared store."""

    def make(policy: dict[str, float] | None = None, **limits: int) -> RateLimiter:
        return RateLimiter(backend_factory(), table(policy, **limits), lease_s=lease_s)

    return make


def empty_table(policy: dict[str, float] | None = None) -> LimitTable:
    """A table that configures nothing, with ``EXACT_POLICY`` unless told."""
    return LimitTable.from_dict({"policy": EXACT_POLICY if policy is None else policy})


@pytest.fixture
def make_unconfigured(backend_factory: Callable[[], Any], lease_s: float) -> Callable[..., RateLimiter]:
    """``make_unconfigured(policy, learned_refresh_s=...)``: a new limiter (a new
    worker) on the shared store whose table configures nothing, as deployed by default."""

    def make(policy: dict[str, float] | None = None, **options: float) -> RateLimiter:
        return RateLimiter(backend_factory(), empty_table(policy), **{"lease_s": lease_s, **options})

    return make

"""Redis-only properties: server time, idle expiry, learned limits' expiry, one round
trip per reservation, and many processes sharing one bucket."""

from __future__ import annotations

import multiprocessing
import random
import threading
import time

import pytest
import redis

from promptq.workers.ratelimit import CapacityWait, RateLimiter, RedisBackend
from promptq.workers.ratelimit.limits import Dimension

from .conftest import MODEL, REDIS_URL, empty_table, new_client, table


def key(prefix: str, kind: str) -> str:
    provider, model = MODEL
    return f"{prefix}:ratelimit:{{{provider}/{model}}}:{kind}"


def test_grants_are_stamped_with_redis_server_time(redis_client: redis.Redis, prefix: str) -> None:
    limiter = RateLimiter(RedisBackend(redis_client, prefix), table(requests_per_minute=60))
    seconds, micros = redis_client.time()
    reservation = limiter.reserve(*MODEL, input_tokens=0, output_tokens=0)
    assert 0 <= reservation.granted_at_s - (seconds + micros / 1e6) < 1.0


def test_bucket_keys_expire_once_the_buckets_would_be_full(redis_client: redis.Redis, prefix: str) -> None:
    # 1 request/s with 10 of burst: 3 taken are back in 3 s; expiry adds 1 s of margin
    limiter = RateLimiter(RedisBackend(redis_client, prefix), table(requests_per_minute=60))
    for _ in range(3):
        limiter.reserve(*MODEL, input_tokens=0, output_tokens=0)
    assert 3000 < redis_client.pttl(key(prefix, "buckets")) <= 4000
    limiter.cooldown(*MODEL, seconds=2.5)
    assert 2400 < redis_client.pttl(key(prefix, "cooldown")) <= 2500


def test_a_client_decoding_responses_works_too(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    limiter = RateLimiter(RedisBackend(client, prefix), table(policy={"target_fraction": 1.0, "burst_s": 1.0},
                                                              requests_per_minute=60))
    limiter.reserve(*MODEL, input_tokens=0, output_tokens=0)
    with pytest.raises(CapacityWait) as refused:
        limiter.reserve(*MODEL, input_tokens=0, output_tokens=0)
    assert refused.value.reason == "requests"
    client.close()


ADVERTISES = {"anthropic-ratelimit-requests-limit": "6000", "anthropic-ratelimit-requests-remaining": "5999",
              "anthropic-ratelimit-output-tokens-limit": "80000"}


def test_learned_limits_live_ten_minutes_after_the_last_response(redis_client: redis.Redis, prefix: str) -> None:
    limiter = RateLimiter(RedisBackend(redis_client, prefix), empty_table())
    limiter.observe_headers(*MODEL, ADVERTISES)
    assert redis_client.hgetall(key(prefix, "learned")) == {b"requests": b"6000", b"output_tokens": b"80000"}
    assert 599_000 < redis_client.pttl(key(prefix, "learned")) <= 600_000


def test_learned_limits_read_through_a_client_decoding_responses(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    backend = RedisBackend(client, prefix)
    RateLimiter(backend, empty_table()).observe_headers(*MODEL, ADVERTISES)
    other = RateLimiter(RedisBackend(new_client(), prefix), empty_table())
    assert other._learned_for(other._key(*MODEL)) == {Dimension.REQUESTS: 6000, Dimension.OUTPUT_TOKENS: 80000}
    assert backend.learned(other._key(*MODEL)) == {Dimension.REQUESTS: 6000, Dimension.OUTPUT_TOKENS: 80000}
    client.close()


class CountingRedis(redis.Redis):
    """Counts the commands sent (a script call is one EVALSHA)."""

    commands: list[str]

    def execute_command(self, *args, **options):  # type: ignore[no-untyped-def]
        self.commands.append(str(args[0]))
        return super().execute_command(*args, **options)


def test_a_reservation_is_one_round_trip_with_learned_limits(prefix: str) -> None:
    client = CountingRedis.from_url(REDIS_URL)
    client.commands = []
    worker = RateLimiter(RedisBackend(client, prefix), empty_table())
    RateLimiter(RedisBackend(new_client(), prefix), empty_table()).observe_headers(*MODEL, ADVERTISES)
    # its first: reads the learned limits (and loads the scripts if Redis lacks them)
    worker.reserve(*MODEL, input_tokens=100, output_tokens=100).settle(100, 50)
    assert client.commands[0] == "HGETALL"
    client.commands.clear()
    for _ in range(100):
        worker.reserve(*MODEL, input_tokens=100, output_tokens=100).settle(100, 50)
    # one reserve and one settle each; the learned limits re-read at most once a second
    assert client.commands.count("EVALSHA") == 200
    assert len(client.commands) - 200 <= 1
    client.close()


# --- many workers on one bucket -------------------------------------------------

LIMIT_RPM = 600
RUN_S = 3.0
PROCESSES, THREADS = 4, 4


def _worker_process(prefix: str, queue: multiprocessing.Queue) -> None:
    """One worker process: THREADS threads reserving as fast as they are let."""
    limiter = RateLimiter(RedisBackend(new_client(), prefix), table(policy={}, requests_per_minute=LIMIT_RPM))
    grants: list[float] = []
    lock = threading.Lock()

    def hammer() -> None:
        deadline = time.monotonic() + RUN_S
        while time.monotonic() < deadline:
            try:
                reservation = limiter.reserve(*MODEL, input_tokens=0, output_tokens=0)
            except CapacityWait as wait:
                time.sleep(random.uniform(0, wait.wait_s))  # some come back early: more contention
                continue
            with lock:
                grants.append(reservation.granted_at_s)

    threads = [threading.Thread(target=hammer) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queue.put(grants)


def test_workers_in_several_processes_never_exceed_limit_plus_burst_and_reach_90_percent(
    redis_client: redis.Redis, prefix: str
) -> None:
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    processes = [ctx.Process(target=_worker_process, args=(prefix, queue)) for _ in range(PROCESSES)]
    for p in processes:
        p.start()
    grants = sorted(g for _ in processes for g in queue.get(timeout=30))
    for p in processes:
        p.join(timeout=10)

    policy = table(policy={}).policy  # the default policy the workers ran with
    per_s = LIMIT_RPM / 60
    burst = per_s * policy.target_fraction * policy.burst_s
    # in every window [grants[i], grants[j]] the grants fit the published limit plus the burst
    worst = max(
        (j - i + 1) - (burst + per_s * (grants[j] - grants[i]))
        for i in range(len(grants)) for j in range(i, len(grants))
    )
    assert worst <= 1e-6
    span = grants[-1] - grants[0]
    print(f"{len(grants)} grants over {span:.3f} s of server time, worst window margin {worst:.3f}")
    assert len(grants) > 2 * burst
    assert len(grants) - burst >= 0.9 * per_s * span  # steady state, the burst left out

"""Leases: a process reserves for its calls of the next `lease_s` seconds at once.

The behaviours every limiter keeps (limits, bursts, cooldowns, learned limits) are
run with and without leases in test_limiter.py; here, what leasing itself
promises: fewer backend reservations under load, no more capacity held back than
a share of the bucket, what is left given back, other workers' cooldowns seen
within a lease, and no thread waiting for another.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from promptq.workers.ratelimit import CapacityWait, MemoryBackend, RateLimiter
from promptq.workers.ratelimit.backend import BucketKey
from promptq.workers.ratelimit.bucket import BucketSpec, Charge, Decision
from promptq.workers.ratelimit.lease import LEASE_SHARE, Lease, lease_size
from promptq.workers.ratelimit.limits import Dimension

from .conftest import EXACT_POLICY, MODEL, table

REQUESTS = BucketSpec(Dimension.REQUESTS, rate_per_s=100.0, capacity=1000.0)
TOKENS = BucketSpec(Dimension.INPUT_TOKENS, rate_per_s=10_000.0, capacity=100_000.0)
LEASE_S = 0.1


# --- sizing: a pure function ---------------------------------------------------

@pytest.mark.parametrize(("handed_out", "elapsed_s", "expected"), [
    ({}, 0.05, 1.0),                                # nothing before: this call alone
    ({Dimension.REQUESTS: 1.0}, 0.1, 1.0),          # one call in a whole lease: one call
    ({Dimension.REQUESTS: 1.0}, 0.01, 10.0),        # used up in a tenth of a lease: ten times as much
    ({Dimension.REQUESTS: 5.0}, 0.05, 10.0),        # the pace of the last lease, over lease_s
    ({Dimension.REQUESTS: 40.0}, 0.01, 50.0),       # at most LEASE_SHARE of the capacity (1000 × 0.05)
    ({Dimension.REQUESTS: 1.0}, 0.0, 50.0),         # used up at once: grows to the cap, no division by 0
    ({Dimension.REQUESTS: 20.0}, 10.0, 1.0),        # a lease of long ago says little: this call
])
def test_a_lease_is_the_pace_of_the_last_one_over_lease_s_within_a_share_of_capacity(
        handed_out: dict[Dimension, float], elapsed_s: float, expected: float) -> None:
    (size,) = lease_size([Charge(REQUESTS, 1)], handed_out, elapsed_s, LEASE_S)
    assert size.amount == pytest.approx(expected)
    assert size.spec is REQUESTS


def test_a_lease_never_takes_less_than_the_call_that_takes_it() -> None:
    big = Charge(TOKENS, 90_000)  # more than LEASE_SHARE of the capacity
    assert lease_size([big], {Dimension.INPUT_TOKENS: 10.0}, 0.1, LEASE_S) == (big,)
    assert LEASE_SHARE * TOKENS.capacity < big.amount


# --- the lease's own bookkeeping -------------------------------------------------

def test_a_lease_hands_out_every_charge_or_none() -> None:
    lease = Lease.of(0.0, 0.0, (REQUESTS, TOKENS), [Charge(REQUESTS, 3), Charge(TOKENS, 100)])
    assert lease.take([Charge(REQUESTS, 1), Charge(TOKENS, 60)])
    assert not lease.take([Charge(REQUESTS, 1), Charge(TOKENS, 60)])  # tokens short: nothing taken
    assert lease.left == {Dimension.REQUESTS: 2, Dimension.INPUT_TOKENS: 40}
    assert lease.handed_out == {Dimension.REQUESTS: 1, Dimension.INPUT_TOKENS: 60}


def test_corrections_and_ceilings_change_what_goes_back() -> None:
    lease = Lease.of(0.0, 0.0, (REQUESTS, TOKENS), [Charge(REQUESTS, 3), Charge(TOKENS, 100)])
    lease.take([Charge(REQUESTS, 3), Charge(TOKENS, 100)])
    lease.give_back([Charge(TOKENS, 70), Charge(REQUESTS, 1)])   # a call used fewer tokens; one was not sent
    assert lease.remainder() == [Charge(REQUESTS, 1), Charge(TOKENS, 70)]
    lease.give_back([Charge(TOKENS, -100)])                        # another used more than reserved
    assert lease.remainder() == [Charge(REQUESTS, 1), Charge(TOKENS, -30)]
    lease.keep([Charge(TOKENS, 130)], [Charge(TOKENS, 50)])       # settled; the provider has 50 left
    assert lease.remainder() == [Charge(REQUESTS, 1), Charge(TOKENS, 50)]
    assert lease.ceilings == (Charge(TOKENS, 50),)                 # for the bucket, with the remainder


def test_a_ceiling_the_bucket_already_has_only_caps_the_lease() -> None:
    lease = Lease.of(0.0, 0.0, (REQUESTS,), [Charge(REQUESTS, 10)])
    lease.lower_to([Charge(REQUESTS, 4)])
    assert lease.remainder() == [Charge(REQUESTS, 4)]
    assert lease.ceilings == ()


# --- the limiter with leases -----------------------------------------------------

class CountingBackend(MemoryBackend):
    """The memory backend, counting the reservations and settlements made in it."""

    def __init__(self, clock) -> None:
        super().__init__(clock=clock)
        self.reserves: list[tuple[Charge, ...]] = []
        self.settles: list[tuple[list[Charge], list[Charge]]] = []

    def reserve(self, key: BucketKey, charges: Sequence[Charge]) -> Decision:
        self.reserves.append(tuple(charges))
        return super().reserve(key, charges)

    def settle(self, key: BucketKey, corrections: Sequence[Charge], ceilings: Sequence[Charge]) -> None:
        self.settles.append((list(corrections), list(ceilings)))
        super().settle(key, corrections, ceilings)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def backend(clock: Clock) -> CountingBackend:
    return CountingBackend(clock)


def worker(backend: MemoryBackend, clock: Clock, **limits: int) -> RateLimiter:
    """A worker process's limiter with 0.1 s leases, on `backend` (shared by a fleet)."""
    return RateLimiter(backend, table(EXACT_POLICY, **limits), lease_s=LEASE_S, clock=clock)


def level(backend: MemoryBackend, limiter: RateLimiter, clock: Clock, dimension: Dimension) -> float:
    spec = next(s for s in limiter._specs_for(*MODEL) if s.dimension is dimension)
    full_at = backend._full_at.get(limiter._key(*MODEL), {}).get(dimension, clock.now)
    return spec.capacity - max(0.0, full_at - clock.now) * spec.rate_per_s


def test_a_busy_process_reserves_in_the_backend_a_few_times_per_lease_not_per_call(
        backend: CountingBackend, clock: Clock) -> None:
    limiter = worker(backend, clock, requests_per_minute=60_000)  # 1000/s, 10,000 of capacity
    for _ in range(300):  # 300 calls in 30 ms
        limiter.reserve(*MODEL, input_tokens=0, output_tokens=0)
        clock.now += 0.0001
    # leases of 1, then the last lease's pace: 1 → 100 → 500 (the cap, 5 % of 10,000)
    assert len(backend.reserves) <= 4
    assert max(c.amount for charges in backend.reserves for c in charges) == pytest.approx(500)


def test_every_unit_handed_out_was_taken_from_the_shared_bucket_first(
        backend: CountingBackend, clock: Clock) -> None:
    fleet = [worker(backend, clock, requests_per_minute=600) for _ in range(3)]  # 10/s, 100 of burst
    granted = 0
    for step in range(2000):  # 2 s: at most 100 of burst + 20 of refill
        try:
            fleet[step % 3].reserve(*MODEL, input_tokens=0, output_tokens=0)
            granted += 1
        except CapacityWait:
            pass
        clock.now += 0.001
    assert 100 <= granted <= 120


def test_what_a_lease_did_not_hand_out_goes_back_when_the_next_is_taken(
        backend: CountingBackend, clock: Clock) -> None:
    limiter = worker(backend, clock, requests_per_minute=60_000)
    for _ in range(10):  # leases grow: the last one holds more than was used
        limiter.reserve(*MODEL, input_tokens=0, output_tokens=0)
        clock.now += 0.0001
    held = limiter._leases[limiter._key(*MODEL)].left[Dimension.REQUESTS]
    assert held > 0
    clock.now += LEASE_S  # the lease ends; the next call takes a new one
    limiter.reserve(*MODEL, input_tokens=0, output_tokens=0)
    assert backend.settles[-1] == ([Charge(limiter._specs_for(*MODEL)[0], held)], [])


def test_settled_usage_is_kept_in_the_lease_and_reaches_the_bucket_with_it(
        backend: CountingBackend, clock: Clock) -> None:
    limiter = worker(backend, clock, input_tokens_per_minute=600_000)  # 10,000/s, 100,000 of capacity
    r = limiter.reserve(*MODEL, input_tokens=1000, output_tokens=0)
    limiter.settle(r, input_tokens=400, output_tokens=0)
    assert backend.settles == []  # no round trip for the correction
    assert level(backend, limiter, clock, Dimension.INPUT_TOKENS) == pytest.approx(99_000)
    clock.now += LEASE_S
    limiter.reserve(*MODEL, input_tokens=1000, output_tokens=0)
    assert backend.settles == [([Charge(limiter._specs_for(*MODEL)[0], 600)], [])]


def test_a_cooldown_set_by_another_worker_stops_this_one_when_its_lease_ends(
        backend: CountingBackend, clock: Clock) -> None:
    this, other = worker(backend, clock), worker(backend, clock)  # nothing configured: leases of time
    this.reserve(*MODEL, input_tokens=0, output_tokens=0)
    other.cooldown(*MODEL, seconds=5.0)  # the other worker was answered 429
    this.reserve(*MODEL, input_tokens=0, output_tokens=0)  # within this worker's lease
    clock.now += LEASE_S
    with pytest.raises(CapacityWait) as refused:
        this.reserve(*MODEL, input_tokens=0, output_tokens=0)
    assert refused.value.reason == "cooldown"


def test_a_cooldown_this_worker_sets_stops_it_at_once(backend: CountingBackend, clock: Clock) -> None:
    limiter = worker(backend, clock)
    limiter.reserve(*MODEL, input_tokens=0, output_tokens=0)
    limiter.cooldown(*MODEL, seconds=5.0)
    with pytest.raises(CapacityWait):
        limiter.reserve(*MODEL, input_tokens=0, output_tokens=0)


def test_no_thread_waits_for_another_in_the_lease(backend: CountingBackend, clock: Clock) -> None:
    """A thread that finds another in the lease reserves its call alone, at once."""
    limiter = worker(backend, clock, requests_per_minute=60_000)
    limiter.reserve(*MODEL, input_tokens=0, output_tokens=0)
    done = threading.Event()
    with limiter._lease_lock:  # another thread is in the lease
        threading.Thread(target=lambda: (limiter.reserve(*MODEL, input_tokens=0, output_tokens=0),
                                         done.set()), daemon=True).start()
        assert done.wait(5.0)
    assert backend.reserves[-1] == (Charge(limiter._specs_for(*MODEL)[0], 1),)


def test_ceilings_from_a_settled_response_reach_the_bucket_when_the_lease_ends(
        backend: CountingBackend, clock: Clock) -> None:
    limiter = worker(backend, clock, requests_per_minute=60_000)
    r = limiter.reserve(*MODEL, input_tokens=0, output_tokens=0)
    limiter.settle_with_headers(r, input_tokens=0, output_tokens=0,
                                headers={"anthropic-ratelimit-requests-remaining": "7"})
    assert backend.settles == []  # kept in the lease: no round trip
    clock.now += LEASE_S
    limiter.reserve(*MODEL, input_tokens=0, output_tokens=0)
    assert backend.settles == [([], [Charge(limiter._specs_for(*MODEL)[0], 7)])]


def test_ceilings_observed_outside_a_settlement_lower_the_bucket_once_not_again_later(
        backend: CountingBackend, clock: Clock) -> None:
    limiter = worker(backend, clock, requests_per_minute=60_000)
    for _ in range(10):  # leases grow: the current one holds more than 7
        limiter.reserve(*MODEL, input_tokens=0, output_tokens=0)
        clock.now += 0.0001
    limiter.observe_headers(*MODEL, {"anthropic-ratelimit-requests-remaining": "7"})
    assert level(backend, limiter, clock, Dimension.REQUESTS) <= 7  # lowered at once
    assert limiter._leases[limiter._key(*MODEL)].left[Dimension.REQUESTS] == 7  # and the lease capped
    clock.now += 5.0  # the bucket refills; the lease ends and the next call takes another
    limiter.reserve(*MODEL, input_tokens=0, output_tokens=0)
    spec = limiter._specs_for(*MODEL)[0]
    assert backend.settles[-1] == ([Charge(spec, 7)], [])  # the remainder, no stale ceiling
    assert level(backend, limiter, clock, Dimension.REQUESTS) > 4000

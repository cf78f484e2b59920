"""The target, in simulated time: a fleet of workers sharing one limiter against a
provider that enforces 300 requests/minute as a continuously refilling bucket
reaches >= 95 % of the limit in steady state with < 1 % of requests answered 429.

The limiter runs on MemoryBackend with a simulated clock (the same bucket math as
the Lua scripts); each worker reserves, its request reaches the provider a few
milliseconds later, the answer comes seconds later, and it reserves again; a
refused reservation sleeps the wait it was given, as ``acquire`` does; a 429
sets the shared cooldown to the provider's retry-after.

Either the limit is configured, or nothing is and the workers learn it from the
rate-limit headers of the answers (OpenAI's naming: limit, remaining, and the
time until the provider's bucket is full again), as a default deployment does.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass

import pytest

from promptq.workers.ratelimit import CapacityWait, MemoryBackend, RateLimiter

from .conftest import MODEL, empty_table, table

RPM = 300
SIM_S = 600.0
WARM_UP_S = 60.0


@dataclass
class ProviderBucket:
    """The provider: ``capacity`` requests, refilling at ``RPM`` per minute, full at start."""

    capacity: float
    level: float = math.nan
    at: float = 0.0

    def __post_init__(self) -> None:
        self.level = self.capacity

    def admit(self, t: float) -> float | None:
        """None if admitted, else the retry-after in whole seconds (as Anthropic sends it)."""
        self.level = min(self.capacity, self.level + (t - self.at) * RPM / 60)
        self.at = t
        if self.level >= 1:
            self.level -= 1
            return None
        return float(math.ceil((1 - self.level) / (RPM / 60)))

    def headers(self) -> dict[str, str]:
        """What the provider says after admitting a request."""
        return {
            "x-ratelimit-limit-requests": str(RPM),
            "x-ratelimit-remaining-requests": str(int(self.level)),
            "x-ratelimit-reset-requests": f"{(self.capacity - self.level) / (RPM / 60):.3f}s",
        }


def simulate(provider_capacity: float, learned: bool = False, workers: int = 24, processes: int = 4,
             seed: int = 7, lease_s: float = 0.0) -> tuple[int, int, int]:
    """Returns (requests admitted after warm-up, requests sent, requests answered 429)."""
    rng = random.Random(seed)
    now = [0.0]
    backend = MemoryBackend(clock=lambda: now[0])
    limits = empty_table(policy={}) if learned else table(policy={}, requests_per_minute=RPM)
    limiters = [RateLimiter(backend, limits, clock=lambda: now[0], lease_s=lease_s) for _ in range(processes)]
    answers: dict[int, dict[str, str]] = {}  # worker -> the headers of the answer it awaits
    provider = ProviderBucket(provider_capacity)
    events: list[tuple[float, int, str, int]] = []
    seq = 0

    def at(t: float, kind: str, worker: int) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (t, seq, kind, worker))

    for w in range(workers):  # a cold start: everyone at once
        at(0.0, "reserve", w)
    admitted_late = sent = throttled = 0
    while events:
        t, _, kind, w = heapq.heappop(events)
        now[0] = t
        limiter = limiters[w % processes]
        if kind == "reserve":
            if w in answers:
                limiter.observe_headers(*MODEL, answers.pop(w))
            if t >= SIM_S:
                continue
            try:
                limiter.reserve(*MODEL, input_tokens=1000, output_tokens=500)
            except CapacityWait as wait:
                at(t + wait.wait_s + rng.uniform(0, min(0.05, 0.1 * wait.wait_s)), "reserve", w)
                continue
            at(t + rng.uniform(0.001, 0.05), "arrive", w)
        elif kind == "arrive":
            sent += 1
            retry_after = provider.admit(t)
            if retry_after is None:
                admitted_late += t >= WARM_UP_S
                if learned:
                    answers[w] = provider.headers()
                at(t + rng.uniform(0.5, 4.0), "reserve", w)  # the answer, then the next job
            else:
                throttled += 1
                limiter.cooldown(*MODEL, seconds=retry_after)
                at(t + 0.05, "reserve", w)
    return admitted_late, sent, throttled


@pytest.mark.parametrize("lease_s", [0.0, 0.1], ids=["per-call", "leased"])
@pytest.mark.parametrize("learned", [False, True], ids=["configured", "learned"])
@pytest.mark.parametrize(
    "provider_capacity",
    [RPM, RPM / 60],
    ids=["bucket-of-one-minute", "bucket-of-one-second"],
)
def test_fleet_reaches_95_percent_of_the_limit_with_under_1_percent_429(provider_capacity: float,
                                                                      learned: bool, lease_s: float) -> None:
    admitted, sent, throttled = simulate(provider_capacity, learned, lease_s=lease_s)
    print(f"admitted {admitted / ((SIM_S - WARM_UP_S) * RPM / 60):.3f} of the limit, 429 {throttled}/{sent}")
    assert admitted / ((SIM_S - WARM_UP_S) * RPM / 60) >= 0.95
    assert throttled / sent < 0.01

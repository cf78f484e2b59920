"""Per-model token buckets, as Anthropic documents its limits.

Each dimension (requests, input tokens, output tokens) of each model is a
bucket holding at most its per-minute limit and refilling continuously at
limit/60 per second. A request is admitted only if every bucket can pay its
cost; otherwise nothing is taken and the caller is told how long to wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

REQUESTS = "requests"
INPUT = "input_tokens"
OUTPUT = "output_tokens"
DIMENSIONS = (REQUESTS, INPUT, OUTPUT)


class Bucket:
    """One continuously refilling bucket. ``limit`` per minute, so ``limit / 60`` per second."""

    __slots__ = ("limit", "rate", "level", "stamp")

    def __init__(self, limit: int, now: float) -> None:
        self.limit = limit
        self.rate = limit / 60.0
        self.level = float(limit)
        self.stamp = now

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.level = min(float(self.limit), self.level + (now - self.stamp) * self.rate)
            self.stamp = now

    def wait_for(self, cost: int) -> float:
        """Seconds until ``cost`` can be paid (0 if it can now).

        A cost above the limit is charged as the full limit, so an oversized
        request waits for a full bucket instead of being refused forever.
        """
        missing = min(cost, self.limit) - self.level
        return missing / self.rate if missing > 0 else 0.0

    def take(self, cost: int) -> None:
        self.level -= min(cost, self.limit)

    def seconds_to_full(self) -> float:
        return (self.limit - self.level) / self.rate


@dataclass(frozen=True, slots=True)
class LimitState:
    """What rate-limit headers report for one dimension."""

    dimension: str
    limit: int
    remaining: int
    reset_s: float
    """Seconds until the bucket is full again."""


class RateLimiter:
    """Buckets keyed by (model, dimension). Not thread-safe: one event loop owns it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._limits: dict[str, int] = {}
        self._buckets: dict[tuple[str, str], Bucket] = {}

    def configure(self, rpm: int | None, input_tpm: int | None, output_tpm: int | None) -> None:
        """Set the limits; buckets whose limit changed start over full."""
        limits = {REQUESTS: rpm, INPUT: input_tpm, OUTPUT: output_tpm}
        self._limits = {dim: value for dim, value in limits.items() if value}
        self._buckets = {
            key: bucket for key, bucket in self._buckets.items() if self._limits.get(key[1]) == bucket.limit
        }

    def reset(self) -> None:
        self._buckets.clear()

    @property
    def enabled(self) -> bool:
        return bool(self._limits)

    def _bucket(self, model: str, dim: str, now: float) -> Bucket:
        bucket = self._buckets.get((model, dim))
        if bucket is None:
            bucket = self._buckets[(model, dim)] = Bucket(self._limits[dim], now)
        else:
            bucket.refill(now)
        return bucket

    def acquire(self, model: str, input_tokens: int, output_tokens: int) -> tuple[float, str | None]:
        """Admit one request costing these tokens.

        Returns ``(0.0, None)`` when admitted (costs taken), else
        ``(seconds to wait, the dimension that ran out)`` and nothing is taken.
        """
        if not self._limits:
            return 0.0, None
        now = self._clock()
        costs = {REQUESTS: 1, INPUT: input_tokens, OUTPUT: output_tokens}
        wait, short = 0.0, None
        buckets = []
        for dim in self._limits:
            bucket = self._bucket(model, dim, now)
            needed = bucket.wait_for(costs[dim])
            if needed > wait:
                wait, short = needed, dim
            buckets.append((bucket, costs[dim]))
        if short is not None:
            return wait, short
        for bucket, cost in buckets:
            bucket.take(cost)
        return 0.0, None

    def snapshot(self, model: str) -> list[LimitState]:
        """Current state of every configured dimension of ``model``."""
        if not self._limits:
            return []
        now = self._clock()
        states = []
        for dim in self._limits:
            bucket = self._bucket(model, dim, now)
            states.append(LimitState(dim, bucket.limit, max(0, int(bucket.level)), bucket.seconds_to_full()))
        return states

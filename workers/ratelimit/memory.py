"""In-process backend: the same semantics as Redis, for unit tests and one-process setups.

Thread-safe; shared by nothing outside the process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence

from . import bucket
from .backend import COOLDOWN, BucketKey
from .bucket import Charge, Decision
from .limits import Dimension


class MemoryBackend:
    """``clock``: seconds, monotonic (default ``time.monotonic``); tests may pass a fake."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._full_at: dict[BucketKey, dict[Dimension, float]] = {}
        self._cooldown_until: dict[BucketKey, float] = {}
        # per bucket: (forgotten at, learned limits per minute)
        self._learned: dict[BucketKey, tuple[float, dict[Dimension, int]]] = {}

    def reserve(self, key: BucketKey, charges: Sequence[Charge]) -> Decision:
        with self._lock:
            now = self._clock()
            remaining = self._cooldown_until.get(key, now) - now
            if remaining > 0:
                return Decision(granted=False, at_s=now, wait_s=remaining, reason=COOLDOWN)
            state = self._full_at.setdefault(key, {})
            decision, taken = bucket.reserve_all(state, charges, now)
            state.update(taken)
            return decision

    def give_back(self, key: BucketKey, charges: Sequence[Charge]) -> None:
        with self._lock:
            now = self._clock()
            state = self._full_at.setdefault(key, {})
            for c in charges:
                state[c.spec.dimension] = bucket.give_back(c.spec, state.get(c.spec.dimension, now), now, c.amount)

    def lower_to(self, key: BucketKey, ceilings: Sequence[Charge]) -> None:
        with self._lock:
            now = self._clock()
            state = self._full_at.setdefault(key, {})
            for c in ceilings:
                state[c.spec.dimension] = bucket.lower_to(c.spec, state.get(c.spec.dimension, now), now, c.amount)

    def settle(self, key: BucketKey, corrections: Sequence[Charge], ceilings: Sequence[Charge]) -> None:
        self.give_back(key, corrections)
        self.lower_to(key, ceilings)

    def cooldown(self, key: BucketKey, seconds: float) -> None:
        with self._lock:
            until = self._clock() + seconds
            if until > self._cooldown_until.get(key, float("-inf")):
                self._cooldown_until[key] = until

    def cooldown_remaining(self, key: BucketKey) -> float:
        with self._lock:
            now = self._clock()
            return max(0.0, self._cooldown_until.get(key, now) - now)

    def learn(self, key: BucketKey, per_minute: Mapping[Dimension, int], ttl_s: float) -> None:
        with self._lock:
            now = self._clock()
            until, known = self._learned.get(key, (now, {}))
            limits = {**known, **per_minute} if until > now else dict(per_minute)
            self._learned[key] = (now + ttl_s, limits)

    def learned(self, key: BucketKey) -> dict[Dimension, int]:
        with self._lock:
            until, known = self._learned.get(key, (float("-inf"), {}))
            if until <= self._clock():
                self._learned.pop(key, None)
                return {}
            return dict(known)

"""The storage protocol a rate limiter runs on: Redis in production, memory in tests.

A backend keeps, per bucket (a provider's model or pool of models), one ``full_at``
time per dimension (see ``bucket.py``), a cooldown deadline, and the limits the
provider advertised for the bucket (learned limits, per minute), and applies each
operation atomically on its own clock. Times are seconds on that clock; amounts
are requests or tokens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from .bucket import Charge, Decision
from .limits import Dimension

# The reason of a Decision refused because the bucket is cooling down.
COOLDOWN = "cooldown"


@dataclass(frozen=True)
class BucketKey:
    """Which bucket: a provider and the model or pool name it limits."""

    provider: str
    bucket: str


class RateLimitBackend(Protocol):
    def reserve(self, key: BucketKey, charges: Sequence[Charge]) -> Decision:
        """Take every charge or none; refused while a cooldown runs (reason ``COOLDOWN``)."""
        ...

    def give_back(self, key: BucketKey, charges: Sequence[Charge]) -> None:
        """Return each charge's amount to its bucket (a negative amount charges more)."""
        ...

    def lower_to(self, key: BucketKey, ceilings: Sequence[Charge]) -> None:
        """Lower each bucket to at most the charge's amount; never raise one."""
        ...

    def settle(self, key: BucketKey, corrections: Sequence[Charge], ceilings: Sequence[Charge]) -> None:
        """``give_back(corrections)`` then ``lower_to(ceilings)``, in one backend call:
        what follows every provider call."""
        ...

    def cooldown(self, key: BucketKey, seconds: float) -> None:
        """Refuse every reservation for ``seconds``; never shortens a longer cooldown."""
        ...

    def cooldown_remaining(self, key: BucketKey) -> float:
        """Seconds left of the cooldown, 0 when none."""
        ...

    def learn(self, key: BucketKey, per_minute: Mapping[Dimension, int], ttl_s: float) -> None:
        """Record limits the provider advertised for the bucket (per minute, each
        positive), over those recorded before; all of the bucket's learned limits
        are forgotten ``ttl_s`` seconds after the last ``learn``."""
        ...

    def learned(self, key: BucketKey) -> dict[Dimension, int]:
        """The bucket's learned limits per minute (empty when none or forgotten)."""
        ...

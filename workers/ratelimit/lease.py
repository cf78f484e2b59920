"""Capacity a process takes from a shared bucket ahead of its calls (a lease).

Reserving in the shared backend for every call costs each provider call a Redis
round trip before it is sent, and under load several GIL hand-offs
(docs/decisions/0010-rate-limit-leases.md). So a process takes a lease
instead: one reservation in the shared bucket for its calls of the next
`lease_s` seconds, handed out locally, its corrections (settled usage, releases)
kept locally, and what is left of it given back, with the provider's latest
ceilings, when the next lease is taken. The shared bucket is charged for every
unit before it is handed out, so the fleet never exceeds a limit; what leasing
changes is when the bucket sees a process's corrections and the cooldowns it
did not set (up to `lease_s` late).

A lease is as large as what the process will need for `lease_s` at the pace it
used its previous lease, at most `LEASE_SHARE` of each bucket's capacity, and
never less than the call that takes it: a process making one call now and then
reserves per call, as without leases; a busy one takes one lease for many calls;
and the capacity a lease holds back from the other workers is bounded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .bucket import BucketSpec, Charge
from .limits import Dimension

# A lease takes at most this share of a bucket's capacity (units), beyond the call
# that takes it: with the default burst of 2 s, a twentieth of it is 0.1 s of the
# bucket's rate, held back from the other workers at most.
LEASE_SHARE = 0.05
# A lease used up faster than this (seconds) is taken as used up in this time: the
# next one grows at most lease_s / MIN_ELAPSED_S times, up to LEASE_SHARE.
MIN_ELAPSED_S = 0.001


def lease_size(charges: Sequence[Charge], handed_out_before: Mapping[Dimension, float], elapsed_s: float,
               lease_s: float) -> tuple[Charge, ...]:
    """What a new lease takes from each bucket: what the process will need in the next
    `lease_s` seconds at the pace it used the previous lease (`handed_out_before`, units,
    over the `elapsed_s` seconds since that lease was taken), at most `LEASE_SHARE` of
    the bucket's capacity, and at least this call's charge."""
    per_s = 1.0 / max(elapsed_s, MIN_ELAPSED_S)
    return tuple(
        Charge(c.spec, max(c.amount, min(handed_out_before.get(c.spec.dimension, 0.0) * per_s * lease_s,
                                         c.spec.capacity * LEASE_SHARE)))
        for c in charges)


@dataclass
class Lease:
    """Units taken from a bucket and not yet handed out (`left`, by dimension;
    negative: settled calls used more than they had reserved, owed to the bucket),
    and the ceilings the provider's latest headers gave, applied when it is returned.

    `taken_s`: the limiter's clock when taken; `at_s`: the backend's clock then
    (seconds both); `specs`: the buckets it was taken from.
    """

    taken_s: float
    at_s: float
    specs: tuple[BucketSpec, ...]
    left: dict[Dimension, float]
    handed_out: dict[Dimension, float] = field(default_factory=dict)
    ceilings: tuple[Charge, ...] = ()

    @classmethod
    def of(cls, taken_s: float, at_s: float, specs: tuple[BucketSpec, ...], size: Sequence[Charge]) -> Lease:
        return cls(taken_s, at_s, specs, {c.spec.dimension: float(c.amount) for c in size})

    def take(self, charges: Sequence[Charge]) -> bool:
        """Hand out every charge from what is left, or nothing (False)."""
        if any(self.left.get(c.spec.dimension, 0.0) < c.amount for c in charges):
            return False
        for c in charges:
            d = c.spec.dimension
            self.left[d] -= c.amount
            self.handed_out[d] = self.handed_out.get(d, 0.0) + c.amount
        return True

    def give_back(self, charges: Sequence[Charge]) -> None:
        """Return amounts to the lease (a negative amount: owed to the bucket)."""
        for c in charges:
            self.left[c.spec.dimension] = self.left.get(c.spec.dimension, 0.0) + c.amount

    def lower_to(self, ceilings: Sequence[Charge]) -> None:
        """The provider says no more than a ceiling is left: neither is in the lease."""
        for c in ceilings:
            d = c.spec.dimension
            if d in self.left:
                self.left[d] = min(self.left[d], c.amount)

    def keep(self, corrections: Sequence[Charge], ceilings: Sequence[Charge]) -> None:
        """A settled call's corrections (see `give_back`) and the ceilings its response
        gave, kept until the lease is given back: the latest ceilings then reach the
        bucket with the remainder. (Ceilings observed apart from a settlement lower the
        bucket at once and only cap the lease: `lower_to`.)"""
        self.give_back(corrections)
        if ceilings:
            self.lower_to(ceilings)
            self.ceilings = tuple(ceilings)

    def remainder(self) -> list[Charge]:
        """What goes back to the bucket when the lease ends (negative: charged)."""
        return [Charge(spec, self.left[spec.dimension]) for spec in self.specs
                if self.left.get(spec.dimension, 0.0) != 0.0]

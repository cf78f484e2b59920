"""Bucket math as pure functions; ``reserve.lua`` and friends compute the same in Redis.

Each limited dimension of a model is a continuously refilling token bucket:
it holds at most ``capacity`` units and refills at ``rate_per_s`` units per
second. It is stored GCRA-style as one number, ``full_at``: the time (backend
clock, seconds) at which the bucket will be full again. Then

    level(now) = capacity - max(0, full_at - now) * rate_per_s

Taking ``amount`` pushes ``full_at`` later by ``amount / rate_per_s``; giving
back pulls it earlier, never before ``now`` (a bucket cannot hold more than its
capacity). A missing or past ``full_at`` means a full bucket, which is also why
an idle key may simply expire.

A take is granted when the level covers ``min(amount, capacity)``: an amount
larger than the whole bucket waits for a full bucket and then leaves it in
debt, which later takes wait out. So the long-run rate never exceeds
``rate_per_s`` and no single large call is refused for ever.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .limits import BucketPolicy, Dimension, Limits


# Waits shorter than this (seconds) are float noise and count as none; the Lua
# scripts use the same tolerance.
_TOLERANCE_S = 1e-6


@dataclass(frozen=True)
class BucketSpec:
    """One dimension's bucket: refill in units per second, capacity in units
    (units are requests or tokens, as the dimension says)."""

    dimension: Dimension
    rate_per_s: float
    capacity: float


@dataclass(frozen=True)
class Charge:
    """An amount (requests or tokens) against one bucket; negative in a refund."""

    spec: BucketSpec
    amount: float


@dataclass(frozen=True)
class Decision:
    """The answer to a reservation across all dimensions.

    ``at_s``: the backend's clock when it decided, seconds. ``wait_s``: seconds
    until the reservation could be granted (0 when granted). ``reason``: the
    dimension that needs the longest wait, or ``"cooldown"``.
    """

    granted: bool
    at_s: float
    wait_s: float = 0.0
    reason: str = ""


def bucket_specs(limits: Limits, policy: BucketPolicy) -> tuple[BucketSpec, ...]:
    """The buckets promptq enforces for ``limits``: ``target_fraction`` of each
    per-minute rate, with ``burst_s`` seconds of it as capacity (at least one unit)."""
    specs = []
    for dimension, per_minute in limits.per_minute().items():
        rate_per_s = per_minute * policy.target_fraction / 60.0
        specs.append(BucketSpec(dimension, rate_per_s, max(rate_per_s * policy.burst_s, 1.0)))
    return tuple(specs)


def amount_for(dimension: Dimension, input_tokens: int, output_tokens: int) -> int:
    """What one call with these token counts costs in ``dimension`` (requests or tokens)."""
    match dimension:
        case Dimension.REQUESTS:
            return 1
        case Dimension.INPUT_TOKENS:
            return input_tokens
        case Dimension.OUTPUT_TOKENS:
            return output_tokens
        case Dimension.TOKENS:
            return input_tokens + output_tokens
    raise ValueError(f"unknown dimension {dimension!r}")


def charges_for(specs: Sequence[BucketSpec], input_tokens: int, output_tokens: int) -> tuple[Charge, ...]:
    return tuple(Charge(s, amount_for(s.dimension, input_tokens, output_tokens)) for s in specs)


def level(spec: BucketSpec, full_at: float, now: float) -> float:
    """Units in the bucket at ``now`` (negative while in debt)."""
    return spec.capacity - max(0.0, full_at - now) * spec.rate_per_s


def wait_s(spec: BucketSpec, full_at: float, now: float, amount: float) -> float:
    """Seconds until the bucket covers ``min(amount, capacity)``; 0 if it does now."""
    need = min(amount, spec.capacity)
    return max(0.0, (full_at - now) - (spec.capacity - need) / spec.rate_per_s)


def take(spec: BucketSpec, full_at: float, now: float, amount: float) -> float:
    """``full_at`` after taking ``amount`` units (may leave the bucket in debt)."""
    return max(full_at, now) + amount / spec.rate_per_s


def give_back(spec: BucketSpec, full_at: float, now: float, amount: float) -> float:
    """``full_at`` after returning ``amount`` units (negative: charging them);
    the bucket never holds more than its capacity."""
    return max(now, max(full_at, now) - amount / spec.rate_per_s)


def lower_to(spec: BucketSpec, full_at: float, now: float, ceiling: float) -> float:
    """``full_at`` after lowering the level to at most ``ceiling`` units (never raising it)."""
    return max(full_at, now + (spec.capacity - ceiling) / spec.rate_per_s)


def reserve_all(
    full_at: Mapping[Dimension, float], charges: Sequence[Charge], now: float
) -> tuple[Decision, dict[Dimension, float]]:
    """All-or-nothing: take every charge, or none and say how long to wait.

    Returns the decision and the new ``full_at`` of each charged dimension
    (empty when refused).
    """
    worst, reason = 0.0, ""
    for c in charges:
        w = wait_s(c.spec, full_at.get(c.spec.dimension, now), now, c.amount)
        if w > worst:
            worst, reason = w, str(c.spec.dimension)
    if worst > _TOLERANCE_S:
        return Decision(granted=False, at_s=now, wait_s=worst, reason=reason), {}
    taken = {c.spec.dimension: take(c.spec, full_at.get(c.spec.dimension, now), now, c.amount) for c in charges}
    return Decision(granted=True, at_s=now), taken

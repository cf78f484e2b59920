"""When to try a webhook delivery again: a pure function."""

from __future__ import annotations

BASE_S = 5.0
CAP_S = 2 * 3600.0
MAX_ATTEMPTS = 15  # ≈ 8 hours of retrying with the defaults below


def next_wait_s(attempts_made: int, rand: float) -> float | None:
    """Seconds before the next attempt, or None to give up.

    Exponential (5 s, 10 s, 20 s, … capped at 2 h) with "equal jitter": uniform in
    [½, 1] of the step, so retries spread out yet never collapse to zero.
    `attempts_made` counts the attempts already made (≥ 1); `rand` is in [0, 1).
    """
    if attempts_made >= MAX_ATTEMPTS:
        return None
    step = min(CAP_S, BASE_S * 2 ** (attempts_made - 1))
    return step * (0.5 + rand / 2)

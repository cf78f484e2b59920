"""Which failure means which action, and how long to wait: pure functions.

Celery and Redis are only the mechanism around these decisions (tasks/jobs.py
schedules what `decide` returns). The table in tests/workers/test_policy.py is
the specification.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from promptq.workers.llm.errors import FailureKind


class Action(StrEnum):
    RETRY = "retry"        # the same model again, after `wait_s`
    FALLBACK = "fallback"  # the next model of the task's chain, now
    REPAIR = "repair"      # re-ask with the validation errors (not a transport retry)
    SHRINK = "shrink"      # the input is over the window: split, truncate or a larger model
    REVIEW = "review"      # a person must look: needs_review, not retried blindly
    FAIL = "fail"          # fatal: failed


@dataclass(frozen=True)
class RetryPolicy:
    """Attempt budget and backoff shape. Times in seconds."""

    max_attempts: int = 8       # provider calls per job, all kinds together
    base_s: float = 1.0         # first backoff ceiling
    cap_s: float = 60.0         # backoff ceiling
    max_repairs: int = 1        # corrective re-asks for invalid output
    # Consecutive overloads on one model before moving down the fallback chain.
    overloads_before_fallback: int = 2


@dataclass(frozen=True)
class Decision:
    action: Action
    wait_s: float = 0.0
    reason: str = ""


TRANSIENT = frozenset({
    FailureKind.RATE_LIMITED, FailureKind.OVERLOADED, FailureKind.SERVER_ERROR,
    FailureKind.TIMEOUT, FailureKind.CONNECTION, FailureKind.NO_RESPONSE, FailureKind.STREAM_CUT,
    FailureKind.STREAM_TRUNCATED,
})
FATAL = frozenset({
    FailureKind.BAD_REQUEST, FailureKind.AUTH, FailureKind.PAYMENT, FailureKind.PERMISSION,
    FailureKind.NOT_FOUND, FailureKind.TOO_LARGE,
})


def backoff_s(retry_number: int, policy: RetryPolicy, rand: float) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base·2^n)).

    `retry_number` counts from 0; `rand` is a uniform sample in [0, 1).
    """
    ceiling = min(policy.cap_s, policy.base_s * (2 ** retry_number))
    return ceiling * rand


def decide(
    kind: FailureKind,
    *,
    attempts_made: int,
    retry_after_s: float | None = None,
    consecutive_overloads: int = 0,
    repairs_made: int = 0,
    has_fallback: bool = False,
    policy: RetryPolicy = RetryPolicy(),
    rand: float | None = None,
) -> Decision:
    """The action for one failed attempt.

    `attempts_made` counts provider attempts already spent (this one included);
    `retry_after_s` is the provider's own wait, which is honoured exactly.
    """
    if kind is FailureKind.REFUSAL:
        return Decision(Action.REVIEW, reason="the model refused")
    if kind in (FailureKind.INVALID_OUTPUT, FailureKind.MAX_TOKENS):
        if repairs_made < policy.max_repairs and attempts_made < policy.max_attempts:
            return Decision(Action.REPAIR, reason="re-ask with the validation errors")
        return Decision(Action.REVIEW, reason="output stayed invalid after repair")
    if kind is FailureKind.CONTEXT_TOO_LONG:
        return Decision(Action.SHRINK, reason="input exceeds the model's context window")
    if kind is FailureKind.NOT_CONFIGURED:
        if has_fallback:
            return Decision(Action.FALLBACK, reason="no credentials for this provider")
        return Decision(Action.FAIL, reason="no credentials for this provider")
    if kind in FATAL:
        return Decision(Action.FAIL, reason=f"{kind} is not retryable")
    if kind in TRANSIENT:
        if attempts_made >= policy.max_attempts:
            return Decision(Action.FAIL, reason=f"gave up after {attempts_made} attempts")
        if (kind is FailureKind.OVERLOADED and has_fallback
                and consecutive_overloads >= policy.overloads_before_fallback):
            return Decision(Action.FALLBACK, reason="primary stays overloaded")
        if retry_after_s is not None:
            return Decision(Action.RETRY, wait_s=retry_after_s, reason="provider's retry-after")
        sample = random.random() if rand is None else rand
        return Decision(Action.RETRY, wait_s=backoff_s(attempts_made - 1, policy, sample),
                        reason="exponential backoff with full jitter")
    return Decision(Action.FAIL, reason=f"unclassified failure {kind}")

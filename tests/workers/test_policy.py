"""The failure → action table: the specification of what promptq does when a call fails."""

from __future__ import annotations

import pytest

from promptq.workers.llm.errors import FailureKind as K
from promptq.workers.policy import Action, RetryPolicy, backoff_s, decide

P = RetryPolicy(max_attempts=5, base_s=1.0, cap_s=60.0, max_repairs=1, overloads_before_fallback=2)


@pytest.mark.parametrize(("kind", "kwargs", "action", "wait_s"), [
    # the provider's own wait is honoured exactly
    (K.RATE_LIMITED, {"retry_after_s": 7.5}, Action.RETRY, 7.5),
    (K.OVERLOADED, {"retry_after_s": 2.0}, Action.RETRY, 2.0),
    # otherwise exponential backoff with full jitter (rand=0.5 → half the ceiling)
    (K.RATE_LIMITED, {}, Action.RETRY, 0.5),
    (K.SERVER_ERROR, {"attempts_made": 3}, Action.RETRY, 2.0),
    (K.TIMEOUT, {"attempts_made": 2}, Action.RETRY, 1.0),
    (K.STREAM_CUT, {}, Action.RETRY, 0.5),
    (K.STREAM_TRUNCATED, {}, Action.RETRY, 0.5),
    (K.CONNECTION, {}, Action.RETRY, 0.5),
    (K.NO_RESPONSE, {}, Action.RETRY, 0.5),
    # the budget is spent: fail, visibly
    (K.RATE_LIMITED, {"attempts_made": 5}, Action.FAIL, 0.0),
    # fatal answers fail fast
    (K.BAD_REQUEST, {}, Action.FAIL, 0.0),
    (K.AUTH, {}, Action.FAIL, 0.0),
    (K.PERMISSION, {}, Action.FAIL, 0.0),
    (K.NOT_FOUND, {}, Action.FAIL, 0.0),
    (K.TOO_LARGE, {}, Action.FAIL, 0.0),
    (K.PAYMENT, {}, Action.FAIL, 0.0),
    # content problems
    (K.CONTEXT_TOO_LONG, {}, Action.SHRINK, 0.0),
    (K.REFUSAL, {}, Action.REVIEW, 0.0),
    (K.INVALID_OUTPUT, {}, Action.REPAIR, 0.0),
    (K.INVALID_OUTPUT, {"repairs_made": 1}, Action.REVIEW, 0.0),
    (K.MAX_TOKENS, {}, Action.REPAIR, 0.0),
    # fallbacks
    (K.OVERLOADED, {"consecutive_overloads": 2, "has_fallback": True}, Action.FALLBACK, 0.0),
    (K.OVERLOADED, {"consecutive_overloads": 1, "has_fallback": True}, Action.RETRY, 0.5),
    (K.OVERLOADED, {"consecutive_overloads": 3, "has_fallback": False}, Action.RETRY, 0.5),
    (K.NOT_CONFIGURED, {"has_fallback": True}, Action.FALLBACK, 0.0),
    (K.NOT_CONFIGURED, {}, Action.FAIL, 0.0),
])
def test_failure_maps_to_action(kind, kwargs, action, wait_s):
    kwargs = {"attempts_made": 1, **kwargs}
    decision = decide(kind, policy=P, rand=0.5, **kwargs)
    assert decision.action is action
    assert decision.wait_s == pytest.approx(wait_s)


@pytest.mark.parametrize(("retry_number", "rand", "expected"), [
    (0, 0.999, 0.999), (1, 1.0, 2.0), (5, 1.0, 32.0), (6, 1.0, 60.0), (30, 1.0, 60.0), (3, 0.0, 0.0),
])
def test_backoff_is_capped_exponential_with_full_jitter(retry_number, rand, expected):
    assert backoff_s(retry_number, P, rand) == pytest.approx(expected)

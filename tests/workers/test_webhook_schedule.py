"""Webhook retries: exponential with jitter, for hours, then give up."""

from __future__ import annotations

from promptq.workers.webhooks.schedule import MAX_ATTEMPTS, next_wait_s


def test_waits_grow_exponentially_and_stay_within_jitter_bounds():
    assert next_wait_s(1, 0.0) == 2.5 and next_wait_s(1, 1.0) == 5.0
    assert next_wait_s(2, 1.0) == 10.0 and next_wait_s(4, 0.0) == 20.0


def test_retrying_spans_hours_then_gives_up():
    total_min = sum(next_wait_s(n, 0.0) for n in range(1, MAX_ATTEMPTS))
    assert total_min > 3 * 3600, "even with the shortest jitter the retries span hours"
    assert next_wait_s(MAX_ATTEMPTS, 0.5) is None

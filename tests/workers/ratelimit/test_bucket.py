"""The bucket math as pure functions (the Lua scripts mirror it; test_limiter runs both)."""

from __future__ import annotations

import pytest

from promptq.workers.ratelimit import bucket
from promptq.workers.ratelimit.bucket import BucketSpec, Charge, bucket_specs, reserve_all
from promptq.workers.ratelimit.limits import BucketPolicy, Dimension, Limits

# 1 request per second, 5 requests of burst; 100 tokens per second, 500 of burst.
REQ = BucketSpec(Dimension.REQUESTS, rate_per_s=1.0, capacity=5.0)
TOK = BucketSpec(Dimension.INPUT_TOKENS, rate_per_s=100.0, capacity=500.0)


def test_specs_aim_below_the_published_rate_with_a_few_seconds_of_burst() -> None:
    specs = bucket_specs(Limits(requests_per_minute=300, output_tokens_per_minute=6000),
                         BucketPolicy(target_fraction=0.97, burst_s=2.0))
    assert specs == (
        BucketSpec(Dimension.REQUESTS, rate_per_s=pytest.approx(4.85), capacity=pytest.approx(9.7)),
        BucketSpec(Dimension.OUTPUT_TOKENS, rate_per_s=pytest.approx(97.0), capacity=pytest.approx(194.0)),
    )


def test_a_bucket_holds_at_least_one_unit() -> None:
    (spec,) = bucket_specs(Limits(requests_per_minute=6), BucketPolicy(burst_s=1.0))
    assert spec.capacity == 1.0


def test_unlimited_dimensions_have_no_bucket() -> None:
    assert bucket_specs(Limits(), BucketPolicy()) == ()


@pytest.mark.parametrize(
    ("dimension", "amount"),
    [(Dimension.REQUESTS, 1), (Dimension.INPUT_TOKENS, 1200), (Dimension.OUTPUT_TOKENS, 300),
     (Dimension.TOKENS, 1500)],
)
def test_amount_of_one_call_per_dimension(dimension: Dimension, amount: int) -> None:
    assert bucket.amount_for(dimension, input_tokens=1200, output_tokens=300) == amount


@pytest.mark.parametrize(
    ("full_at", "amount", "wait"),
    [
        (0.0, 5, 0.0),       # full bucket covers a full take
        (10.0, 1, 0.0),      # exactly full at now
        (11.0, 4, 0.0),      # level 4 covers 4
        (11.0, 5, 1.0),      # level 4, needs 5: 1 s at 1/s
        (15.0, 1, 1.0),      # empty: 1 s for one
        (17.0, 1, 3.0),      # 2 in debt: 3 s for one
        (12.0, 50, 2.0),     # more than the capacity: waits for a full bucket only
    ],
)
def test_wait_is_the_time_until_the_level_covers_the_amount(full_at: float, amount: int, wait: float) -> None:
    assert bucket.wait_s(REQ, full_at, now=10.0, amount=amount) == pytest.approx(wait)


def test_level_follows_full_at() -> None:
    assert bucket.level(REQ, full_at=0.0, now=10.0) == 5.0
    assert bucket.level(REQ, full_at=12.0, now=10.0) == 3.0
    assert bucket.level(REQ, full_at=17.0, now=10.0) == -2.0


def test_take_and_give_back_move_full_at_by_amount_over_rate() -> None:
    full_at = bucket.take(TOK, full_at=0.0, now=10.0, amount=300)
    assert full_at == pytest.approx(13.0)
    assert bucket.give_back(TOK, full_at, now=10.0, amount=100) == pytest.approx(12.0)
    assert bucket.give_back(TOK, full_at, now=10.0, amount=-100) == pytest.approx(14.0)  # a charge


def test_give_back_never_fills_beyond_capacity() -> None:
    assert bucket.give_back(TOK, full_at=11.0, now=10.0, amount=10_000) == 10.0


def test_lower_to_lowers_but_never_raises() -> None:
    assert bucket.level(REQ, bucket.lower_to(REQ, full_at=0.0, now=10.0, ceiling=2), 10.0) == 2.0
    assert bucket.lower_to(REQ, full_at=14.0, now=10.0, ceiling=3) == 14.0  # level 1 stays 1
    assert bucket.level(REQ, bucket.lower_to(REQ, full_at=0.0, now=10.0, ceiling=0), 10.0) == 0.0


def test_reserve_all_takes_every_dimension_at_once() -> None:
    decision, taken = reserve_all({}, [Charge(REQ, 1), Charge(TOK, 200)], now=10.0)
    assert decision.granted and decision.at_s == 10.0
    assert taken == {Dimension.REQUESTS: pytest.approx(11.0), Dimension.INPUT_TOKENS: pytest.approx(12.0)}


def test_reserve_all_takes_nothing_when_one_dimension_is_short() -> None:
    state = {Dimension.INPUT_TOKENS: 14.0}  # 100 tokens left
    decision, taken = reserve_all(state, [Charge(REQ, 1), Charge(TOK, 300)], now=10.0)
    assert not decision.granted
    assert decision.reason == "input_tokens"
    assert decision.wait_s == pytest.approx(2.0)
    assert taken == {}


def test_reserve_all_reports_the_longest_wait() -> None:
    state = {Dimension.REQUESTS: 15.0, Dimension.INPUT_TOKENS: 14.0}
    decision, _ = reserve_all(state, [Charge(REQ, 1), Charge(TOK, 300)], now=10.0)
    assert (decision.wait_s, decision.reason) == (pytest.approx(2.0), "input_tokens")
    decision, _ = reserve_all(state, [Charge(REQ, 1), Charge(TOK, 150)], now=10.0)
    assert (decision.wait_s, decision.reason) == (pytest.approx(1.0), "requests")


def test_a_take_larger_than_the_bucket_waits_for_full_then_leaves_debt() -> None:
    decision, taken = reserve_all({}, [Charge(TOK, 2000)], now=10.0)
    assert decision.granted
    assert bucket.level(TOK, taken[Dimension.INPUT_TOKENS], 10.0) == pytest.approx(-1500)
    decision, _ = reserve_all(taken, [Charge(TOK, 1)], now=10.0)
    assert decision.wait_s == pytest.approx(15.01)

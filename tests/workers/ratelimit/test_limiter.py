"""What the worker relies on, run over both backends (memory and Redis).

Rates are slow (1 request or 10 tokens per second) so that the few milliseconds
between two calls refill next to nothing; ``target_fraction`` is 1 in these
tables, so the numbers are the published ones.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import pytest

from promptq.workers.ratelimit import CapacityWait, RateLimiter, load_limits
from promptq.workers.ratelimit.table import LimitTable

from .conftest import MODEL

MakeLimiter = Callable[..., RateLimiter]
NOW = dt.datetime(2026, 11, 28, 12, 0, 0, tzinfo=dt.UTC)
EXACT_2S = {"target_fraction": 1.0, "burst_s": 2.0}
# A response advertising 120 requests/minute, nearly all of them left
ADVERTISES_120_RPM = {
    "anthropic-ratelimit-requests-limit": "120",
    "anthropic-ratelimit-requests-remaining": "119",
    "anthropic-ratelimit-requests-reset": "2026-11-28T12:00:01Z",
}


def reserve(limiter: RateLimiter, input_tokens: int = 0, output_tokens: int = 0):
    return limiter.reserve(*MODEL, input_tokens=input_tokens, output_tokens=output_tokens)


def wait_of(limiter: RateLimiter, input_tokens: int = 0, output_tokens: int = 0) -> CapacityWait:
    with pytest.raises(CapacityWait) as refused:
        reserve(limiter, input_tokens, output_tokens)
    return refused.value


def burst(limiter: RateLimiter, input_tokens: int = 0, output_tokens: int = 0) -> tuple[int, CapacityWait]:
    """Reserve until refused: how many were granted, and the refusal."""
    for granted in range(1000):
        try:
            reserve(limiter, input_tokens, output_tokens)
        except CapacityWait as wait:
            return granted, wait
    pytest.fail("1000 reservations granted")


def test_burst_is_granted_then_the_wait_is_the_refill_time(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(policy={"target_fraction": 1.0, "burst_s": 3.0}, requests_per_minute=60)
    for _ in range(3):
        reserve(limiter)
    wait = wait_of(limiter)
    assert wait.reason == "requests"
    assert 0.9 < wait.wait_s <= 1.0


def test_reservation_is_all_or_nothing(make_limiter: MakeLimiter) -> None:
    # 2 requests of burst, 20 input tokens of burst
    limiter = make_limiter(policy={"target_fraction": 1.0, "burst_s": 2.0},
                           requests_per_minute=60, input_tokens_per_minute=600)
    reserve(limiter, input_tokens=20)
    wait = wait_of(limiter, input_tokens=20)
    assert wait.reason == "input_tokens"
    assert 1.9 < wait.wait_s <= 2.0
    reserve(limiter, input_tokens=0)  # the refused call took no request
    assert wait_of(limiter).reason == "requests"


def test_output_tokens_are_limited_apart_from_input(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(input_tokens_per_minute=60_000, output_tokens_per_minute=600)  # burst 100 out
    reserve(limiter, input_tokens=5000, output_tokens=100)
    assert wait_of(limiter, input_tokens=10, output_tokens=50).reason == "output_tokens"


def test_settle_refunds_the_unused_estimate(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(output_tokens_per_minute=600)  # 10 tokens/s, 100 of burst
    reservation = reserve(limiter, output_tokens=100)
    assert 5.9 < wait_of(limiter, output_tokens=60).wait_s <= 6.0
    assert reservation.settle(input_tokens=0, output_tokens=40)
    reserve(limiter, output_tokens=60)  # the 60 refunded
    assert wait_of(limiter, output_tokens=10).wait_s > 0.9


def test_settle_charges_usage_beyond_the_estimate(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(input_tokens_per_minute=600)  # 10 tokens/s, 100 of burst
    reservation = reserve(limiter, input_tokens=50)
    limiter.settle(reservation, input_tokens=100, output_tokens=0)
    assert 0.9 < wait_of(limiter, input_tokens=10).wait_s <= 1.0


def test_settle_of_combined_tokens_counts_input_and_output(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(tokens_per_minute=600)  # OpenAI style, 100 of burst
    reservation = reserve(limiter, input_tokens=30, output_tokens=70)
    reservation.settle(30, 20)
    reserve(limiter, input_tokens=50)
    assert wait_of(limiter, input_tokens=10).wait_s > 0.9


def test_release_refunds_everything(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(policy={"target_fraction": 1.0, "burst_s": 1.0},
                           requests_per_minute=60, input_tokens_per_minute=600)  # 1 request, 10 tokens
    reservation = reserve(limiter, input_tokens=10)
    assert reservation.release()
    reserve(limiter, input_tokens=10)


def test_a_reservation_is_closed_by_its_first_settle_or_release(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(policy={"target_fraction": 1.0, "burst_s": 1.0}, requests_per_minute=60)
    reservation = reserve(limiter)
    assert reservation.settle(0, 0)
    assert not reservation.release()  # would have refunded the request
    assert not reservation.settle(0, 0)
    wait_of(limiter)


def test_cooldown_stops_every_worker_of_that_model(make_limiter: MakeLimiter) -> None:
    got_429, other = make_limiter(requests_per_minute=600), make_limiter(requests_per_minute=600)
    got_429.cooldown(*MODEL, seconds=5)
    wait = wait_of(other)
    assert wait.reason == "cooldown"
    assert 4.9 < wait.wait_s <= 5.0
    other.reserve("sim", "another-model", input_tokens=0, output_tokens=0)  # other models go on


def test_cooldown_is_never_shortened_but_can_be_lengthened(make_limiter: MakeLimiter) -> None:
    first, second = make_limiter(), make_limiter()
    first.cooldown(*MODEL, seconds=5)
    second.cooldown(*MODEL, seconds=1)
    assert 4.9 < first.cooldown_remaining(*MODEL) <= 5.0
    second.cooldown(*MODEL, seconds=8)
    assert 7.9 < first.cooldown_remaining(*MODEL) <= 8.0


def test_cooldown_applies_to_unlimited_models_too(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter()
    reserve(limiter, input_tokens=10**9)
    limiter.cooldown(*MODEL, seconds=2)
    assert wait_of(limiter).reason == "cooldown"


def test_headers_lower_the_bucket_to_what_the_provider_says_remains(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(requests_per_minute=60)  # 10 requests of burst
    limiter.observe_headers(*MODEL, {"anthropic-ratelimit-requests-remaining": "3"})
    for _ in range(3):
        reserve(limiter)
    assert wait_of(limiter).reason == "requests"


def test_headers_never_raise_the_bucket_above_our_accounting(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(policy={"target_fraction": 1.0, "burst_s": 2.0}, requests_per_minute=60)
    reserve(limiter), reserve(limiter)
    limiter.observe_headers(*MODEL, {"x-ratelimit-remaining-requests": "499"})
    wait_of(limiter)


def test_headers_of_unlimited_dimensions_are_ignored(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(requests_per_minute=60)
    limiter.observe_headers(*MODEL, {"x-ratelimit-remaining-tokens": "5"})
    reserve(limiter, input_tokens=1000)


@pytest.mark.parametrize(
    "headers",
    [
        {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "3s"},
        {"anthropic-ratelimit-output-tokens-remaining": "0",
         "anthropic-ratelimit-output-tokens-reset": "2026-11-28T12:00:03Z"},
    ],
    ids=["openai", "anthropic"],
)
def test_nothing_remaining_of_an_unknown_limit_cools_down_until_the_reset(
    make_unconfigured: MakeLimiter, headers: dict[str, str]
) -> None:
    limiter = make_unconfigured()
    limiter.observe_headers(*MODEL, headers, now=NOW)
    wait = wait_of(limiter)
    assert wait.reason == "cooldown"
    assert 2.9 < wait.wait_s <= 3.0


@pytest.mark.parametrize(
    ("headers", "one_unit_s"),
    [
        ({"anthropic-ratelimit-requests-limit": "60", "anthropic-ratelimit-requests-remaining": "0",
          "anthropic-ratelimit-requests-reset": "2026-11-28T12:00:45Z"}, 1.0),
        ({"x-ratelimit-limit-requests": "600", "x-ratelimit-remaining-requests": "0",
          "x-ratelimit-reset-requests": "59s"}, 0.1),
        ({"anthropic-ratelimit-requests-limit": "60", "anthropic-ratelimit-requests-remaining": "0",
          "anthropic-ratelimit-requests-reset": "2026-11-28T12:00:00.400Z"}, 0.4),
    ],
    ids=["anthropic", "openai", "reset-sooner-than-one-unit"],
)
def test_nothing_remaining_of_a_known_limit_cools_down_for_at_most_one_units_refill(
    make_unconfigured: MakeLimiter, headers: dict[str, str], one_unit_s: float
) -> None:
    # The reset is when the provider's bucket is FULL again (up to a minute);
    # the next call only needs one unit back: 60 / limit seconds.
    limiter = make_unconfigured()
    limiter.observe_headers(*MODEL, headers, now=NOW)
    wait = wait_of(limiter)
    assert wait.reason == "cooldown"
    assert 0.9 * one_unit_s < wait.wait_s <= one_unit_s
    assert limiter.cooldown_remaining(*MODEL) <= one_unit_s


def test_a_configured_limit_is_known_too_for_the_cooldown(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(requests_per_minute=600)
    limiter.observe_headers(*MODEL, {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "30s"})
    assert 0.09 < limiter.cooldown_remaining(*MODEL) <= 0.1


# --- limits learned from the providers' headers ----------------------------------


def test_with_the_packaged_table_nothing_is_limited(backend_factory: Callable[[], Any], lease_s: float) -> None:
    limiter = RateLimiter(backend_factory(), load_limits(), lease_s=lease_s)
    for model in (MODEL, ("anthropic", "claude-sonnet-4-6"), ("openai", "gpt-4o")):
        for _ in range(100):
            limiter.reserve(*model, input_tokens=10**6, output_tokens=10**5)


def test_an_advertised_limit_is_learned_and_paced_by_the_policy(make_unconfigured: MakeLimiter) -> None:
    # 120/min at half of it: 1 per second, with 4 s of it as burst
    limiter = make_unconfigured({"target_fraction": 0.5, "burst_s": 4.0})
    reserve(limiter, input_tokens=10**6)  # nothing known before the first response
    limiter.observe_headers(*MODEL, ADVERTISES_120_RPM, now=NOW)
    granted, wait = burst(limiter)
    assert granted == 4
    assert wait.reason == "requests"
    assert 0.9 < wait.wait_s <= 1.0


def test_an_advertised_openai_tokens_limit_counts_input_and_output(make_unconfigured: MakeLimiter) -> None:
    limiter = make_unconfigured()  # 10 s of burst: 100 tokens
    limiter.observe_headers(*MODEL, {"x-ratelimit-limit-tokens": "600", "x-ratelimit-remaining-tokens": "600",
                                     "x-ratelimit-reset-tokens": "0s"})
    reserve(limiter, input_tokens=60, output_tokens=40)
    wait = wait_of(limiter, input_tokens=5, output_tokens=5)
    assert wait.reason == "tokens"
    assert 0.9 < wait.wait_s <= 1.0


def test_anthropics_tokens_pair_is_not_learned_as_a_limit_on_the_sum(make_unconfigured: MakeLimiter) -> None:
    # Anthropic's tokens-* repeats the tighter of input and output; limiting their
    # sum to it would throttle far below both limits.
    limiter = make_unconfigured()  # 10 s of burst: 1000 input tokens, 100 output tokens
    limiter.observe_headers(*MODEL, {
        "anthropic-ratelimit-input-tokens-limit": "6000", "anthropic-ratelimit-input-tokens-remaining": "6000",
        "anthropic-ratelimit-output-tokens-limit": "600", "anthropic-ratelimit-output-tokens-remaining": "600",
        "anthropic-ratelimit-tokens-limit": "600", "anthropic-ratelimit-tokens-remaining": "600",
    }, now=NOW)
    reserve(limiter, input_tokens=900, output_tokens=100)
    reserve(limiter, input_tokens=50)
    assert wait_of(limiter, output_tokens=10).reason == "output_tokens"


def test_a_configured_limit_beats_an_advertised_one(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(policy=EXACT_2S, requests_per_minute=60)  # 2 requests of burst
    limiter.observe_headers(*MODEL, {"anthropic-ratelimit-requests-limit": "6000",
                                     "anthropic-ratelimit-input-tokens-limit": "600"}, now=NOW)
    # what the table leaves out is learned: 600 input tokens/min, 20 of burst
    reserve(limiter, input_tokens=20)
    wait = wait_of(limiter, input_tokens=10)
    assert wait.reason == "input_tokens"
    assert 0.9 < wait.wait_s <= 1.0
    # what it configures is kept: 60 requests/min, not 6000
    reserve(limiter)
    wait = wait_of(limiter)
    assert wait.reason == "requests"
    assert 0.9 < wait.wait_s <= 1.0


def test_learned_limits_are_shared_by_every_worker(make_unconfigured: MakeLimiter) -> None:
    observer, other = make_unconfigured(EXACT_2S), make_unconfigured(EXACT_2S)  # 2 per second, 4 of burst
    observer.observe_headers(*MODEL, ADVERTISES_120_RPM, now=NOW)
    granted, wait = burst(other)
    assert granted == 4
    assert wait.reason == "requests"
    assert 0.45 < wait.wait_s <= 0.5
    assert wait_of(observer).reason == "requests"  # one bucket for both


def test_a_worker_applies_a_newly_learned_limit_within_its_refresh_interval(make_unconfigured: MakeLimiter) -> None:
    observer, other = make_unconfigured(EXACT_2S), make_unconfigured(EXACT_2S, learned_refresh_s=0.3)
    reserve(other)  # reads the learned limits: none yet
    observer.observe_headers(*MODEL, ADVERTISES_120_RPM, now=NOW)
    for _ in range(10):
        reserve(other)  # its copy is fresh: not limited yet
    time.sleep(0.35)
    granted, _ = burst(other)
    assert granted == 4


def test_learned_limits_are_forgotten_when_no_response_says_them(make_unconfigured: MakeLimiter) -> None:
    limiter = make_unconfigured(EXACT_2S, learned_ttl_s=0.4, learned_refresh_s=0.0)
    limiter.observe_headers(*MODEL, ADVERTISES_120_RPM, now=NOW)
    time.sleep(0.25)
    limiter.observe_headers(*MODEL, ADVERTISES_120_RPM, now=NOW)  # refreshed
    time.sleep(0.25)
    assert burst(limiter)[0] == 4  # 0.5 s after the first response, 0.25 s after the last
    time.sleep(0.45)
    for _ in range(10):
        reserve(limiter)


def test_headers_lower_a_learned_bucket_too(make_unconfigured: MakeLimiter) -> None:
    limiter = make_unconfigured()  # 60/min: 10 of burst
    limiter.observe_headers(*MODEL, {"anthropic-ratelimit-requests-limit": "60",
                                     "anthropic-ratelimit-requests-remaining": "3"}, now=NOW)
    granted, wait = burst(limiter)
    assert granted == 3
    assert wait.reason == "requests"


def test_acquire_waits_for_capacity_within_max_wait(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(policy={"target_fraction": 1.0, "burst_s": 0.1}, requests_per_minute=600)  # 1 per 0.1 s
    reserve(limiter)
    with limiter.acquire(*MODEL, input_tokens=0, output_tokens=0, max_wait_s=1.0) as reservation:
        assert not reservation.closed


def test_acquire_gives_up_at_once_when_the_wait_is_longer_than_max_wait(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(policy={"target_fraction": 1.0, "burst_s": 1.0}, requests_per_minute=6)  # 1 per 10 s
    reserve(limiter)
    with pytest.raises(CapacityWait) as refused:
        with limiter.acquire(*MODEL, input_tokens=0, output_tokens=0, max_wait_s=2.0):
            pytest.fail("granted without capacity")
    assert 9.9 < refused.value.wait_s <= 10.0  # what is left to wait, not max_wait


def test_leaving_acquire_without_settling_refunds_nothing(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(policy={"target_fraction": 1.0, "burst_s": 1.0}, requests_per_minute=60)
    with pytest.raises(RuntimeError):
        with limiter.acquire(*MODEL, input_tokens=0, output_tokens=0):
            raise RuntimeError("the provider answered 500")
    wait_of(limiter)


def test_capacity_wait_survives_pickling_for_celery() -> None:
    import pickle

    wait = pickle.loads(pickle.dumps(CapacityWait(1.5, "requests")))
    assert (wait.wait_s, wait.reason, str(wait)) == (1.5, "requests", "rate limited (requests): retry in 1.500 s")


def test_settle_with_headers_refunds_the_estimate_then_lowers_to_what_the_provider_says(
        make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(policy=EXACT_2S, requests_per_minute=60, output_tokens_per_minute=600)
    # 2 requests and 20 output tokens of burst; the estimate takes all 20 tokens
    reservation = reserve(limiter, output_tokens=20)
    limiter.settle_with_headers(reservation, input_tokens=0, output_tokens=5, headers={
        "anthropic-ratelimit-requests-limit": "60", "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": "2026-11-28T12:00:01Z"}, now=NOW)
    assert reservation.closed
    wait = wait_of(limiter, output_tokens=15)  # 15 tokens are back, the provider has no request left
    assert wait.reason in ("requests", "cooldown")
    assert not limiter.settle(reservation, input_tokens=0, output_tokens=0)  # already settled


def test_settle_with_headers_equals_settle_then_observe_headers(backend_factory: Callable[[], Any],
                                                               lease_s: float) -> None:
    headers = {"anthropic-ratelimit-output-tokens-limit": "600",
               "anthropic-ratelimit-output-tokens-remaining": "12",
               "anthropic-ratelimit-output-tokens-reset": "2026-11-28T12:00:01Z"}

    def limiter_for(model: str) -> RateLimiter:  # 10 output tokens/s, 20 of burst, on model only
        return RateLimiter(backend_factory(), LimitTable.from_dict({
            "policy": EXACT_2S, "limits": [{"provider": "anthropic", "models": [model],
                                            "output_tokens_per_minute": 600}]}), lease_s=lease_s)

    one, two = limiter_for("model-a"), limiter_for("model-b")
    r1 = one.reserve("anthropic", "model-a", input_tokens=0, output_tokens=20)
    one.settle_with_headers(r1, input_tokens=0, output_tokens=2, headers=headers, now=NOW)
    r2 = two.reserve("anthropic", "model-b", input_tokens=0, output_tokens=20)
    two.settle(r2, input_tokens=0, output_tokens=2)
    two.observe_headers("anthropic", "model-b", headers, now=NOW)
    for limiter, model in ((one, "model-a"), (two, "model-b")):
        limiter.reserve("anthropic", model, input_tokens=0, output_tokens=12)  # lowered to 12
        with pytest.raises(CapacityWait) as refused:
            limiter.reserve("anthropic", model, input_tokens=0, output_tokens=1)
        assert refused.value.reason == "output_tokens"


def test_the_same_advertised_limits_are_not_rewritten_within_a_tenth_of_their_ttl(
        make_unconfigured: MakeLimiter) -> None:
    limiter = make_unconfigured(EXACT_2S, learned_ttl_s=2.0, learned_refresh_s=0.0)
    limiter.observe_headers(*MODEL, ADVERTISES_120_RPM, now=NOW)
    backend = limiter._backend
    key = limiter._key(*MODEL)
    assert backend.learned(key)
    forget(backend, key)  # behind the limiter's back
    limiter.observe_headers(*MODEL, ADVERTISES_120_RPM, now=NOW)
    assert not backend.learned(key)  # written 0 s ago: not again
    time.sleep(0.25)  # > ttl / 10
    limiter.observe_headers(*MODEL, ADVERTISES_120_RPM, now=NOW)
    assert backend.learned(key)


def forget(backend: Any, key: Any) -> None:
    """Drop a bucket's learned limits from either backend."""
    if hasattr(backend, "_client"):
        backend._client.delete(f"{backend._base(key)}:learned")
    else:
        backend._learned.pop(key, None)

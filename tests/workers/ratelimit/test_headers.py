"""Parsing the providers' rate-limit headers: table tests of a pure function."""

from __future__ import annotations

import datetime as dt

import pytest

from promptq.workers.ratelimit.headers import Observation, parse_duration, parse_rate_limit_headers
from promptq.workers.ratelimit.limits import Dimension

NOW = dt.datetime(2026, 11, 28, 12, 0, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("6ms", 0.006),
        ("1s", 1.0),
        ("0.5s", 0.5),
        ("1m30s", 90.0),
        ("2m0.5s", 120.5),
        ("1h2m3s", 3723.0),
        ("20ms", 0.02),
        ("7", 7.0),  # bare seconds
        (" 1s ", 1.0),
        ("", None),
        ("soon", None),
        ("1x", None),
        ("-1", None),
    ],
)
def test_openai_reset_durations(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == (pytest.approx(seconds) if seconds is not None else None)


ANTHROPIC = {
    "anthropic-ratelimit-requests-limit": "50",
    "anthropic-ratelimit-requests-remaining": "49",
    "anthropic-ratelimit-requests-reset": "2026-11-28T12:00:01Z",
    "anthropic-ratelimit-input-tokens-limit": "30000",
    "anthropic-ratelimit-input-tokens-remaining": "28000",
    "anthropic-ratelimit-input-tokens-reset": "2026-11-28T12:00:04.500Z",
    "anthropic-ratelimit-output-tokens-limit": "8000",
    "anthropic-ratelimit-output-tokens-remaining": "0",
    "anthropic-ratelimit-output-tokens-reset": "2026-11-28T12:00:30+00:00",
    "anthropic-ratelimit-tokens-limit": "38000",
    "anthropic-ratelimit-tokens-remaining": "0",
    "anthropic-ratelimit-tokens-reset": "2026-11-28T12:00:30Z",
}
OPENAI = {
    "x-ratelimit-limit-requests": "500",
    "x-ratelimit-remaining-requests": "499",
    "x-ratelimit-reset-requests": "120ms",
    "x-ratelimit-limit-tokens": "30000",
    "x-ratelimit-remaining-tokens": "29000",
    "x-ratelimit-reset-tokens": "1m30s",
}


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param(ANTHROPIC, {
            Dimension.REQUESTS: Observation(Dimension.REQUESTS, 50, 49, 1.0),
            Dimension.INPUT_TOKENS: Observation(Dimension.INPUT_TOKENS, 30000, 28000, 4.5),
            Dimension.OUTPUT_TOKENS: Observation(Dimension.OUTPUT_TOKENS, 8000, 0, 30.0),
            Dimension.TOKENS: Observation(Dimension.TOKENS, 38000, 0, 30.0),
        }, id="anthropic"),
        pytest.param(OPENAI, {
            Dimension.REQUESTS: Observation(Dimension.REQUESTS, 500, 499, 0.12),
            Dimension.TOKENS: Observation(Dimension.TOKENS, 30000, 29000, 90.0),
        }, id="openai"),
        pytest.param({k.upper(): v for k, v in OPENAI.items()}, {
            Dimension.REQUESTS: Observation(Dimension.REQUESTS, 500, 499, 0.12),
            Dimension.TOKENS: Observation(Dimension.TOKENS, 30000, 29000, 90.0),
        }, id="names-are-case-insensitive"),
        pytest.param({"x-ratelimit-remaining-requests": "3"}, {
            Dimension.REQUESTS: Observation(Dimension.REQUESTS, None, 3, None),
        }, id="partial"),
        pytest.param({
            "anthropic-ratelimit-requests-limit": "fifty",
            "anthropic-ratelimit-requests-remaining": "-4",
            "anthropic-ratelimit-requests-reset": "tomorrow",
        }, {
            Dimension.REQUESTS: Observation(Dimension.REQUESTS, None, None, None),
        }, id="malformed-values-are-ignored"),
        pytest.param({
            "anthropic-ratelimit-requests-remaining": "0",
            "anthropic-ratelimit-requests-reset": "2026-11-28T11:59:00Z",
        }, {
            Dimension.REQUESTS: Observation(Dimension.REQUESTS, None, 0, 0.0),
        }, id="reset-in-the-past-is-now"),
        pytest.param({
            "date": "Sat, 28 Nov 2026 12:00:10 GMT",
            "anthropic-ratelimit-requests-remaining": "0",
            "anthropic-ratelimit-requests-reset": "2026-11-28T12:00:12Z",
        }, {
            Dimension.REQUESTS: Observation(Dimension.REQUESTS, None, 0, 2.0),
        }, id="date-header-is-the-reference-not-our-clock"),
        pytest.param({"content-type": "application/json", "retry-after": "3"}, {}, id="none"),
    ],
)
def test_parse_rate_limit_headers(headers: dict[str, str], expected: dict[Dimension, Observation]) -> None:
    assert parse_rate_limit_headers(headers, NOW) == expected

"""Parse the providers' rate-limit response headers (pure functions).

Anthropic: ``anthropic-ratelimit-{requests,input-tokens,output-tokens,tokens}-{limit,remaining,reset}``,
reset an RFC 3339 time (when the bucket is full again). OpenAI:
``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``, reset a duration
such as ``6ms``, ``1s``, ``1m30s``. Anthropic's ``tokens-*`` pair is the most
restrictive of its input and output limits; it maps to ``Dimension.TOKENS`` and
so only matters where a combined tokens limit is configured.

Headers come from outside: a value that does not parse is ignored, never raised.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from .limits import Dimension


@dataclass(frozen=True)
class Observation:
    """What the provider said about one dimension in one response.

    ``limit`` and ``remaining`` in requests or tokens; ``reset_s``: seconds from
    the response until the provider's bucket resets.
    """

    dimension: Dimension
    limit: int | None = None
    remaining: int | None = None
    reset_s: float | None = None


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float | None:
    """``"6ms"``, ``"1s"``, ``"1m30s"``, ``"0.5"`` → seconds; ``None`` if malformed."""
    text = text.strip()
    if _DURATION.fullmatch(text):
        return sum(float(n) * _UNIT_S[unit] for n, unit in _DURATION_PART.findall(text))
    try:
        seconds = float(text)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def parse_rfc3339(text: str) -> dt.datetime | None:
    """An RFC 3339 time, timezone-aware (UTC when none is given); ``None`` if malformed."""
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        value = int(float(text.strip()))
    except ValueError:
        return None
    return value if value >= 0 else None


def _anthropic_reset(text: str, reference: dt.datetime) -> float | None:
    when = parse_rfc3339(text)
    return None if when is None else max(0.0, (when - reference).total_seconds())


def _openai_reset(text: str, reference: dt.datetime) -> float | None:
    return parse_duration(text)


_ResetParser = Callable[[str, dt.datetime], float | None]
# (dimension, limit header, remaining header, reset header, reset parser)
_HEADERS: tuple[tuple[Dimension, str, str, str, _ResetParser], ...] = (
    *(
        (d, f"anthropic-ratelimit-{name}-limit", f"anthropic-ratelimit-{name}-remaining",
         f"anthropic-ratelimit-{name}-reset", _anthropic_reset)
        for d, name in (
            (Dimension.REQUESTS, "requests"),
            (Dimension.INPUT_TOKENS, "input-tokens"),
            (Dimension.OUTPUT_TOKENS, "output-tokens"),
            (Dimension.TOKENS, "tokens"),
        )
    ),
    *(
        (d, f"x-ratelimit-limit-{name}", f"x-ratelimit-remaining-{name}", f"x-ratelimit-reset-{name}",
         _openai_reset)
        for d, name in ((Dimension.REQUESTS, "requests"), (Dimension.TOKENS, "tokens"))
    ),
)


def parse_rate_limit_headers(headers: Mapping[str, str], now: dt.datetime) -> dict[Dimension, Observation]:
    """The observations in a response's headers, by dimension (either provider's naming).

    ``now`` (aware) is the reference for Anthropic's absolute reset times unless
    the response carries a ``date`` header, which is the provider's own clock.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    reference = _date_header(lower.get("date")) or now
    found: dict[Dimension, Observation] = {}
    for dimension, limit_h, remaining_h, reset_h, parse_reset in _HEADERS:
        if not {limit_h, remaining_h, reset_h} & lower.keys():
            continue
        reset = lower.get(reset_h)
        found[dimension] = Observation(
            dimension,
            limit=_int(lower.get(limit_h)),
            remaining=_int(lower.get(remaining_h)),
            reset_s=parse_reset(reset, reference) if reset is not None else None,
        )
    return found


def _date_header(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)

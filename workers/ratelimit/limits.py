"""What is limited: the dimensions, a model's published limits, and the policy that
turns a published limit into the bucket promptq enforces.

Values only; the table that maps provider and model to limits is in ``table.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Dimension(StrEnum):
    """One thing a provider counts per minute."""

    REQUESTS = "requests"
    # Tokens as the provider counts them for the limit. Anthropic ITPM counts
    # input_tokens + cache_creation_input_tokens (cache reads do not count on current models).
    INPUT_TOKENS = "input_tokens"
    OUTPUT_TOKENS = "output_tokens"
    # Input and output together: OpenAI's single TPM limit.
    TOKENS = "tokens"


@dataclass(frozen=True)
class Limits:
    """A model's published limits, each per minute; ``None`` means not limited.

    ``requests_per_minute`` is in requests per minute, the others in tokens per
    minute. Anthropic limits input and output separately; OpenAI publishes one
    ``tokens_per_minute`` for input and output together.
    """

    requests_per_minute: int | None = None
    input_tokens_per_minute: int | None = None
    output_tokens_per_minute: int | None = None
    tokens_per_minute: int | None = None

    def __post_init__(self) -> None:
        for dimension, value in self._by_dimension().items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
                raise ValueError(f"{dimension} per minute must be a positive integer or None, not {value!r}")

    @classmethod
    def of(cls, per_minute: Mapping[Dimension, int]) -> Limits:
        """From limits per minute by dimension (the inverse of ``per_minute``)."""
        return cls(**{f"{Dimension(d)}_per_minute": v for d, v in per_minute.items()})

    def _by_dimension(self) -> dict[Dimension, int | None]:
        return {
            Dimension.REQUESTS: self.requests_per_minute,
            Dimension.INPUT_TOKENS: self.input_tokens_per_minute,
            Dimension.OUTPUT_TOKENS: self.output_tokens_per_minute,
            Dimension.TOKENS: self.tokens_per_minute,
        }

    def per_minute(self) -> dict[Dimension, int]:
        """The limited dimensions and their limit per minute (requests or tokens)."""
        return {d: v for d, v in self._by_dimension().items() if v is not None}


UNLIMITED = Limits()


@dataclass(frozen=True)
class BucketPolicy:
    """How a published per-minute limit becomes promptq's bucket.

    ``target_fraction``: share of the published rate promptq aims at (0.97 leaves
    3 % for clock jitter and for the provider counting a little differently).
    ``burst_s``: bucket capacity in seconds of that rate. A fleet starting cold
    takes at most this much at once, far below a provider bucket that holds a
    full minute, and small enough for providers that enforce over shorter
    intervals (Anthropic: "60 RPM may be enforced as 1 request per second").
    The steady-state rate does not depend on it: under continuous demand a
    bucket grants exactly its refill rate, whatever its capacity.
    """

    target_fraction: float = 0.97
    burst_s: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.target_fraction <= 1:
            raise ValueError(f"target_fraction must be in (0, 1], not {self.target_fraction!r}")
        if not self.burst_s > 0:
            raise ValueError(f"burst_s must be positive seconds, not {self.burst_s!r}")

"""The live state of one simulator: config, counters, buckets, cache, fault script.

Everything here is touched only from the server's event loop, so there are no locks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .config import SimConfig
from .faults import FaultInjector
from .prompt_cache import PromptCache
from .ratelimit import RateLimiter
from .stats import Stats


@dataclass(slots=True)
class Verdict:
    """What happens to one request: ``outcome`` is ``"ok"`` or a fault name."""

    outcome: str
    retry_after_s: float | None = None
    """For ``rate_limit``: what to advertise in ``retry-after``, seconds."""
    limited_by: str | None = None
    """For a 429 from the real buckets: the dimension that ran out."""


class SimState:
    def __init__(self, config: SimConfig) -> None:
        self.initial_config = config
        self.config = config
        self.stats = Stats()
        self.faults = FaultInjector(config.seed)
        self.limiter = RateLimiter()
        self.limiter.configure(config.rpm, config.input_tpm, config.output_tpm)
        self.cache = PromptCache()

    def reset(self) -> None:
        """Back to the state at startup: the startup config, zero counters, full buckets,
        no script, no marker counts, an empty prompt cache."""
        self.config = self.initial_config
        self.limiter.configure(self.config.rpm, self.config.input_tpm, self.config.output_tpm)
        self.stats.reset()
        self.faults.reset(self.config.seed)
        self.limiter.reset()
        self.cache.clear()

    def update_config(self, changes: dict[str, Any]) -> SimConfig:
        """Apply a partial config (raises ``ValueError`` if invalid)."""
        new = self.config.updated(changes)
        if "seed" in changes:
            self.faults.reseed(new.seed)
        self.limiter.configure(new.rpm, new.input_tpm, new.output_tpm)
        self.config = new
        return new

    def admit(self, model: str, prompt_tokens: int, limit_input: int, output_tokens: int, marker_text: str) -> Verdict:
        """Decide a valid request's fate: context window, then rate limits, then injected faults.

        ``prompt_tokens`` is the whole prompt; ``limit_input`` what counts
        against the input-token limit; token counts in tokens.
        """
        config = self.config
        if prompt_tokens > config.context_window:
            return Verdict("context_too_long")
        wait, short = self.limiter.acquire(model, limit_input, output_tokens)
        if short is not None:
            return Verdict("rate_limit", wait, short)
        fault = self.faults.pick(config.fault_rates, marker_text)
        if fault is None:
            return Verdict("ok")
        if fault == "rate_limit":
            return Verdict(fault, config.retry_after_s)
        return Verdict(fault)

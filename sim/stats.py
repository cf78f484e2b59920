"""Counts of what the provider endpoints received, for ``GET /_sim/stats``.

Every request to ``/v1/messages`` and ``/v1/chat/completions`` is counted,
whatever became of it, so a benchmark can reconcile the provider's view with
promptq's ledger. Token totals cover the answers that were generated.
"""

from __future__ import annotations

from typing import Any

_USAGE_KEYS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


class Stats:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.by_outcome: dict[str, int] = {}
        self.by_model: dict[str, int] = {}
        self.by_api: dict[str, int] = {"anthropic": 0, "openai": 0}
        self.limited = 0
        self.count_tokens = 0
        self.usage = dict.fromkeys(_USAGE_KEYS, 0)

    def record(self, api: str, model: Any, outcome: str, *, limited: bool = False) -> None:
        """Count one request; ``limited`` marks a 429 from the real buckets rather than an injected one."""
        self.requests += 1
        self.by_api[api] = self.by_api.get(api, 0) + 1
        self.by_outcome[outcome] = self.by_outcome.get(outcome, 0) + 1
        name = model if isinstance(model, str) else "(none)"
        self.by_model[name] = self.by_model.get(name, 0) + 1
        if limited:
            self.limited += 1

    def ticket(self, api: str) -> Ticket:
        """A counter for one incoming request of ``api``."""
        return Ticket(self, api)

    def add_usage(self, input_tokens: int, output_tokens: int, cache_write: int, cache_read: int) -> None:
        """Add one answer's billed tokens (input excludes the cached parts)."""
        usage = self.usage
        usage["input_tokens"] += input_tokens
        usage["output_tokens"] += output_tokens
        usage["cache_creation_input_tokens"] += cache_write
        usage["cache_read_input_tokens"] += cache_read

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "by_outcome": dict(self.by_outcome),
            "by_model": dict(self.by_model),
            "by_api": dict(self.by_api),
            "rate_limited_by_buckets": self.limited,
            "count_tokens_requests": self.count_tokens,
            "usage": dict(self.usage),
        }


class Ticket:
    """Counts one provider request exactly once, whichever way its handling ends."""

    __slots__ = ("_stats", "_api", "recorded")

    def __init__(self, stats: Stats, api: str) -> None:
        self._stats = stats
        self._api = api
        self.recorded = False

    def record(self, model: Any, outcome: str, *, limited: bool = False) -> None:
        if not self.recorded:
            self.recorded = True
            self._stats.record(self._api, model, outcome, limited=limited)

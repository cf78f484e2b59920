"""The live state of one simulator: config, counters, buckets, cache, fault script.

Everything here is touched only from the server's event loop, so there are no locks.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from .config import SimConfig
from .faults import FaultInjector
from .prompt_cache import PromptCache
from .ratelimit import RateLimiter
from .stats import Stats
from .tokens import last_user_text

_DOC_ID = re.compile(r"doc-id: ?([A-Za-z0-9_.:-]+)")


@dataclass(slots=True)
class Verdict:
    """What happens to one request: ``outcome`` is ``"ok"`` or a fault name."""

    outcome: str
    retry_after_s: float | None = None
    """For ``rate_limit``: what to advertise in ``retry-after``, seconds."""
    limited_by: str | None = None
    """For a 429 from the real buckets: the dimension that ran out."""


class RequestLog:
    """A bounded log of provider requests, for benchmarks (``GET /_sim/requests``).

    Each entry: ``received_at`` and ``responded_at`` (``time.time()``, seconds; the
    answer's last byte handed to the server), ``path``, ``status``, ``key`` (sha256 hex
    of the last user message text) and ``doc_id`` (from a ``doc-id: X`` in that text,
    or None). Also counts requests in flight and the most seen at once since the
    last reset. Off unless ``SimConfig.request_log``.

    It also keeps the bodies of the last ``BODIES`` requests (``GET /_sim/requests/bodies``),
    for tests that check what a client put on the wire (system prompt, messages).
    """

    CAPACITY = 5000
    BODIES = 16  # few: a body can be a whole long document

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.entries: deque[dict[str, Any]] = deque(maxlen=capacity)
        self.bodies: deque[dict[str, Any]] = deque(maxlen=self.BODIES)
        self.in_flight = 0
        self.max_in_flight = 0

    def clear(self) -> None:
        """Forget the entries and bodies; requests still in flight stay counted."""
        self.entries.clear()
        self.bodies.clear()
        self.max_in_flight = self.in_flight

    def opened(self, path: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"path": path, "received_at": time.time(), "responded_at": None,
                                 "status": None, "key": None, "doc_id": None}
        self.entries.append(entry)
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight
        return entry

    def closed(self, entry: dict[str, Any], body: bytes, status: int | None, responded_at: float | None) -> None:
        """The request is over (answered, cut or abandoned); ``body`` is what it sent."""
        self.in_flight -= 1
        entry["responded_at"] = responded_at if responded_at is not None else time.time()
        entry["status"] = status
        try:
            parsed = json.loads(body)
            text = last_user_text(parsed.get("messages"))
        except (ValueError, AttributeError):
            return
        self.bodies.append({"path": entry["path"], "body": parsed})
        entry["key"] = hashlib.sha256(text.encode()).hexdigest()
        found = _DOC_ID.search(text)
        entry["doc_id"] = found.group(1) if found else None

    def recent_bodies(self) -> list[dict[str, Any]]:
        """The last requests' parsed bodies, oldest first: ``{"path", "body"}`` each."""
        return list(self.bodies)

    def snapshot(self) -> dict[str, Any]:
        return {"in_flight": self.in_flight, "max_in_flight": self.max_in_flight,
                "requests": [dict(e) for e in self.entries]}


class SimState:
    def __init__(self, config: SimConfig) -> None:
        self.initial_config = config
        self.config = config
        self.stats = Stats()
        self.faults = FaultInjector(config.seed)
        self.limiter = RateLimiter()
        self.limiter.configure(config.rpm, config.input_tpm, config.output_tpm)
        self.cache = PromptCache()
        self.requests = RequestLog()

    def reset(self) -> None:
        """Back to the state at startup: the startup config, zero counters, full buckets,
        no script, no marker counts, an empty prompt cache."""
        self.config = self.initial_config
        self.limiter.configure(self.config.rpm, self.config.input_tpm, self.config.output_tpm)
        self.stats.reset()
        self.faults.reset(self.config.seed)
        self.limiter.reset()
        self.cache.clear()
        self.requests.clear()

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

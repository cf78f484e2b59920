"""Which fault, if any, a request suffers.

Three sources, consulted in this order for every request that passed auth,
validation and the rate limiter:

1. the global script (``POST /_sim/script``), one entry consumed per request;
   ``"ok"`` in a script means "no fault, skip the random draw";
2. a marker ``[[sim:FAULT]]`` / ``[[sim:FAULT:N]]`` in the last user message:
   the first N requests carrying that same message text fail with FAULT;
3. the random ``fault_rates`` (probability per request, seeded).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import deque
from collections.abc import Iterable, Mapping

# Faults answered with an HTTP error status before any output is produced.
STATUS_FAULTS = frozenset(
    {
        "rate_limit",
        "overloaded",
        "server_error",
        "context_too_long",
        "bad_request",
        "auth",
        "permission",
        "not_found",
        "too_large",
    }
)
# Faults that change the content of an otherwise successful answer.
OUTPUT_FAULTS = frozenset({"malformed_output", "refusal"})
# Faults in how the answer travels: stalls, broken or incomplete bodies.
TRANSPORT_FAULTS = frozenset({"timeout", "cut_stream", "truncated_stream", "stream_error"})

FAULTS = STATUS_FAULTS | OUTPUT_FAULTS | TRANSPORT_FAULTS

_MARKER = re.compile(r"\[\[sim:([a-z_]+)(?::(\d+))?\]\]")


def check_fault_name(name: str) -> str:
    """Return ``name`` if it is a known fault, else raise ``ValueError``."""
    if name not in FAULTS:
        raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(FAULTS))}")
    return name


def parse_marker(text: str) -> tuple[str, int] | None:
    """The first ``[[sim:FAULT:N]]`` marker in ``text`` as ``(fault, N)``, N defaulting to 1."""
    if "[[sim:" not in text:  # the regex is the slow path; most prompts carry no marker
        return None
    for match in _MARKER.finditer(text):
        if match.group(1) in FAULTS:
            return match.group(1), int(match.group(2) or 1)
    return None


class FaultInjector:
    """Picks the fault for each admitted request. Not thread-safe: one event loop owns it."""

    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(seed)
        self._script: deque[str] = deque()
        self._marker_hits: dict[bytes, int] = {}

    def reset(self, seed: int) -> None:
        self._rng.seed(seed)
        self._script.clear()
        self._marker_hits.clear()

    def reseed(self, seed: int) -> None:
        self._rng.seed(seed)

    def push_script(self, faults: Iterable[str]) -> int:
        """Append faults (or ``"ok"``) to the script; returns how many are now queued."""
        entries = [name if name == "ok" else check_fault_name(name) for name in faults]
        self._script.extend(entries)
        return len(self._script)

    @property
    def scripted(self) -> int:
        return len(self._script)

    def pick(self, rates: Mapping[str, float], marker_text: str) -> str | None:
        """The fault for this request, or ``None`` for a normal answer.

        ``marker_text`` is the last user message's text; a marker there is
        counted per distinct text, so concurrent requests for other documents
        do not use up its budget.
        """
        if self._script:
            entry = self._script.popleft()
            return None if entry == "ok" else entry
        marker = parse_marker(marker_text)
        if marker is not None:
            fault, times = marker
            key = hashlib.blake2b(marker_text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
            seen = self._marker_hits.get(key, 0) + 1
            self._marker_hits[key] = seen
            if seen <= times:
                return fault
            return None
        if rates:
            draw = self._rng.random()
            cumulative = 0.0
            for name, rate in rates.items():
                cumulative += rate
                if draw < cumulative:
                    return name
        return None

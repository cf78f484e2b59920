"""Prompt caching, as both providers bill it.

Anthropic: a segment carrying ``cache_control`` ends a cacheable prefix. The
first request that sends the prefix writes it (``cache_creation_input_tokens``);
later ones within its TTL read it (``cache_read_input_tokens``). As in the real
API, a hit is looked for at the 20 segment boundaries before each breakpoint,
and ``cache_control`` itself is not part of the cached content.

OpenAI: automatic. Message-boundary prefixes of 1,024 tokens or more are
remembered; a later prompt sharing one reports ``cached_tokens`` in steps of
128 tokens.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from .tokens import Segment, tokens_for_chars

_LOOKBACK = 20
_TTL_S = {"5m": 300.0, "1h": 3600.0}
_OPENAI_MIN = 1024
_OPENAI_STEP = 128
_OPENAI_TTL_S = 600.0


@dataclass(slots=True)
class CacheUse:
    """Token split of one prompt (tokens)."""

    total: int
    read: int = 0
    write_5m: int = 0
    write_1h: int = 0
    _pending: tuple[tuple[bytes, float], ...] = ()

    @property
    def write(self) -> int:
        return self.write_5m + self.write_1h

    @property
    def uncached(self) -> int:
        """Input tokens billed at the base price: neither read nor written."""
        return self.total - self.read - self.write


class PromptCache:
    """Prefix hashes with expiry times, bounded in size (oldest dropped first)."""

    def __init__(self, max_entries: int = 200_000, clock: Callable[[], float] = time.monotonic) -> None:
        # prefix hash -> (expiry time, TTL seconds); a read extends the expiry by the TTL
        self._entries: OrderedDict[bytes, tuple[float, float]] = OrderedDict()
        self._max = max_entries
        self._clock = clock

    def clear(self) -> None:
        self._entries.clear()

    def _alive(self, key: bytes, now: float) -> bool:
        entry = self._entries.get(key)
        return entry is not None and entry[0] > now

    def _prefixes(self, namespace: str, segments: list[Segment]) -> tuple[list[bytes], list[int]]:
        digest = hashlib.blake2b(namespace.encode(), digest_size=16)
        keys: list[bytes] = []
        tokens: list[int] = []
        chars = 0
        for text, size, _ in segments:
            digest.update(text.encode("utf-8", "surrogatepass"))
            digest.update(b"\x1e")  # keeps ["ab","c"] and ["a","bc"] apart
            chars += size
            keys.append(digest.copy().digest())
            tokens.append(tokens_for_chars(chars))
        return keys, tokens

    def anthropic(self, model: str, segments: list[Segment], total: int, min_tokens: int = 0) -> CacheUse:
        """Split ``total`` input tokens into read / written / uncached. Call :meth:`commit` if the request runs."""
        breakpoints = [i for i, seg in enumerate(segments) if isinstance(seg[2], dict)]
        if not breakpoints:
            return CacheUse(total)
        keys, tokens = self._prefixes("anthropic:" + model, segments)
        now = self._clock()
        hit = -1
        for bp in breakpoints:
            for i in range(bp, max(-1, bp - _LOOKBACK), -1):
                if i <= hit:
                    break
                if self._alive(keys[i], now):
                    hit = i
                    break
        use = CacheUse(total, read=tokens[hit] if hit >= 0 else 0)
        pending: list[tuple[bytes, float]] = []
        if hit >= 0:
            pending.append((keys[hit], self._entries[keys[hit]][1]))
        covered = use.read
        for bp in breakpoints:
            if bp <= hit or tokens[bp] < min_tokens:
                continue
            ttl = "1h" if segments[bp][2].get("ttl") == "1h" else "5m"
            written = tokens[bp] - covered
            if ttl == "1h":
                use.write_1h += written
            else:
                use.write_5m += written
            covered = tokens[bp]
            pending.append((keys[bp], _TTL_S[ttl]))
        use._pending = tuple(pending)
        return use

    def openai(self, model: str, segments: list[Segment], total: int) -> CacheUse:
        """Automatic prefix caching: ``read`` is the cached part of ``total``."""
        if total < _OPENAI_MIN:
            return CacheUse(total)
        keys, tokens = self._prefixes("openai:" + model, segments)
        now = self._clock()
        read = 0
        pending: list[tuple[bytes, float]] = []
        for key, count in zip(keys, tokens, strict=True):
            if count < _OPENAI_MIN:
                continue
            if self._alive(key, now):
                read = count
            pending.append((key, _OPENAI_TTL_S))
        if read:
            read = _OPENAI_MIN + (read - _OPENAI_MIN) // _OPENAI_STEP * _OPENAI_STEP
        return CacheUse(total, read=read, _pending=tuple(pending))

    def commit(self, use: CacheUse) -> None:
        """Store the prefixes a request wrote and refresh the one it read."""
        if not use._pending:
            return
        now = self._clock()
        for key, ttl in use._pending:
            self._entries[key] = (now + ttl, ttl)
            self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

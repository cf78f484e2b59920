"""Timing of answers: time to first token and output speed (seconds, tokens per second)."""

from __future__ import annotations

from .tokens import CHARS_PER_TOKEN

_INSTANT_PIECES = 12  # "several" deltas, even when nothing is paced
_PACED_PIECES = 64  # enough for smooth streaming, few enough to keep sleeps cheap


def pieces(text: str, tokens_per_s: float) -> list[str]:
    """Split streamed output into delta-sized pieces (at least one, possibly empty)."""
    if not text:
        return [""]
    if tokens_per_s > 0:
        size = max(4 * CHARS_PER_TOKEN, -(-len(text) // _PACED_PIECES))
    else:
        size = max(2 * CHARS_PER_TOKEN, -(-len(text) // _INSTANT_PIECES))
    return [text[i : i + size] for i in range(0, len(text), size)]


def piece_delay(piece: str, tokens_per_s: float) -> float:
    """Seconds to generate ``piece`` at ``tokens_per_s`` (0 = instant)."""
    if tokens_per_s <= 0:
        return 0.0
    return len(piece) / CHARS_PER_TOKEN / tokens_per_s


def generation_s(output_tokens: int, tokens_per_s: float) -> float:
    """Seconds to generate ``output_tokens`` (0 = instant)."""
    return output_tokens / tokens_per_s if tokens_per_s > 0 else 0.0

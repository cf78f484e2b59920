"""Provider-neutral request and response of one LLM call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from promptq.prompts.registry import OutputMode


class Provider(StrEnum):
    ANTHROPIC = "anthropic"
    OPENAI = "openai"


@dataclass(frozen=True)
class Usage:
    """Tokens of one call, normalised: `input_tokens` EXCLUDES cached tokens on every provider.

    Anthropic reports it that way; OpenAI's `prompt_tokens` includes
    `cached_tokens`, which the OpenAI adapter subtracts so nothing is counted twice.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_creation_input_tokens + other.cache_creation_input_tokens,
            self.cache_read_input_tokens + other.cache_read_input_tokens,
        )

    @property
    def total_input_tokens(self) -> int:
        return self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens


class StopKind(StrEnum):
    COMPLETE = "complete"        # end_turn / tool_use / stop / tool_calls
    MAX_TOKENS = "max_tokens"    # the output budget ran out: output is truncated
    REFUSAL = "refusal"          # Anthropic stop_reason refusal; OpenAI refusal / content_filter
    CONTEXT_EXCEEDED = "context_exceeded"  # model_context_window_exceeded
    OTHER = "other"


@dataclass(frozen=True)
class Turn:
    role: str  # "user" | "assistant"
    text: str


@dataclass(frozen=True)
class CallRequest:
    model: str
    messages: tuple[Turn, ...]
    schema: dict[str, Any]
    tool_name: str
    tool_description: str
    output: OutputMode
    max_tokens: int
    system: str | None = None
    # Stream the answer: output arrives as deltas (published as live events) and
    # failures mid-answer are told apart (cut, truncated, in-stream error).
    stream: bool = False


@dataclass(frozen=True)
class CallResponse:
    model: str
    stop: StopKind
    usage: Usage
    # The structured output as the provider returned it: a tool input (dict) for
    # tool use, else the raw text, which structured.py parses.
    tool_input: dict[str, Any] | None
    text: str
    request_id: str | None = None
    latency_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    refusal: str | None = None


# Receives pieces of the answer as they stream in (text or partial tool JSON).
OnDelta = Callable[[str], None]

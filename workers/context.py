"""Will a request fit the model's context window? Estimates in tokens.

The estimate is deliberately conservative (3 characters a token, where English
runs near 4) so that a request judged to fit rarely meets a context-too-long 400.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from collections.abc import Callable
from typing import Any

from promptq.prompts import framing
from promptq.prompts.registry import OverflowStrategy, Task
from promptq.store.text import transcript
from promptq.workers.llm.types import CallRequest

CHARS_PER_TOKEN = 3.0
OVERHEAD_TOKENS = 64  # message framing and tool-definition boilerplate


def estimate_tokens(text: str) -> int:
    return int(len(text) / CHARS_PER_TOKEN) + 1


def request_tokens(request: CallRequest) -> int:
    """Estimated input tokens of a request: messages, system prompt and the schema."""
    chars = sum(len(t.text) for t in request.messages) + len(request.system or "")
    chars += len(json.dumps(request.schema))
    return int(chars / CHARS_PER_TOKEN) + OVERHEAD_TOKENS


# Below this share of the window the estimate alone decides; above it, the provider's
# own count is asked for where it offers one.
COUNT_ABOVE_SHARE = 0.8


def fits(request: CallRequest, context_window: int, input_tokens: int | None = None) -> bool:
    """Whether input (estimated, or `input_tokens` when counted) plus the output budget fit."""
    tokens = request_tokens(request) if input_tokens is None else input_tokens
    return tokens + request.max_tokens <= context_window


def worth_counting(request: CallRequest, context_window: int) -> bool:
    """Near or over the window the estimate is too rough to decide on."""
    return request_tokens(request) + request.max_tokens > COUNT_ABOVE_SHARE * context_window


def chunk_budget_chars(task: Task, context_window: int, *, tightening: int = 0) -> int:
    """How many characters of document one request may carry on this window.

    `tightening` counts earlier attempts whose estimate proved too generous (the
    provider still said "too long"): each one takes 30 % off.
    """
    fixed = (estimate_tokens(task.system_prompt) + estimate_tokens(task.prompt.template)
             + estimate_tokens(framing.document("")) + estimate_tokens(json.dumps(task.schema)))
    budget = (context_window - task.max_output_tokens - fixed - OVERHEAD_TOKENS) * CHARS_PER_TOKEN * 0.95
    return max(0, int(budget * 0.7 ** tightening))


@dataclass(frozen=True)
class ShrinkPlan:
    """How to make an over-long input fit. Exactly one of the fields is set; all
    None means it cannot be made to fit."""

    model_index: int | None = None     # move to this (larger-window) model of the chain
    spans: list[tuple[int, int]] | None = None  # extract per piece [start, end) of the text and merge
    text: str | None = None            # the shortened input (truncated / oldest messages dropped)
    messages: list[dict[str, str]] | None = None


def plan_shrink(task: Task, windows: list[int], model_index: int, text: str,
                messages: list[dict[str, str]] | None, tightening: int = 0) -> ShrinkPlan:
    """The task's answer to "this input exceeds the model's context window".

    `windows` are the context windows (tokens) of the task's model chain. A
    conversation always loses its oldest messages first; a document is split,
    routed to a larger window, or truncated, as the task configures.
    """
    window = windows[model_index]
    budget = chunk_budget_chars(task, window, tightening=tightening)
    if budget <= 0:
        return ShrinkPlan()
    if messages is not None:
        kept = drop_oldest(messages, lambda ms: len(framing.conversation(ms)) <= budget)
        return ShrinkPlan(text=transcript(kept), messages=kept) if kept else ShrinkPlan()
    if task.on_context_overflow is OverflowStrategy.FALLBACK:
        larger = next((i for i in range(model_index + 1, len(windows)) if windows[i] > window), None)
        if larger is not None:
            return ShrinkPlan(model_index=larger)
    if task.on_context_overflow is OverflowStrategy.SPLIT:
        return ShrinkPlan(spans=split_spans(text, budget))
    return ShrinkPlan(text=text[:budget])


def split_spans(text: str, max_chars: int) -> list[tuple[int, int]]:
    """Pieces of at most `max_chars`, cut at paragraph, then line, then word boundaries,
    as [start, end) offsets into `text`: a job that stops between pieces keeps these
    (not copies of its text) to go on where it stopped. Whitespace between pieces
    belongs to none."""
    if max_chars <= 0:
        raise ValueError("max_chars must be positive")
    spans: list[tuple[int, int]] = []
    start = 0
    while len(text) - start > max_chars:
        window = text[start:start + max_chars]
        # The strongest boundary in the second half of the window; else cut hard.
        cut = next((at for sep in ("\n\n", "\n", " ")
                    if (at := window.rfind(sep)) > max_chars // 2), max_chars)
        spans.append((start, start + cut))
        start += cut
        while start < len(text) and text[start].isspace():
            start += 1
    if start < len(text):
        spans.append((start, len(text)))
    return spans


def merge_outputs(outputs: list[Any]) -> Any:
    """One extraction from the extractions of consecutive chunks.

    Objects merge key by key; lists concatenate without repeats; for a scalar the
    first chunk that states it (not null) wins — headers such as an invoice number
    come early, line items accumulate.
    """
    present = [o for o in outputs if o is not None]
    if not present:
        return None
    first = present[0]
    if isinstance(first, dict):
        keys = list(dict.fromkeys(k for o in present if isinstance(o, dict) for k in o))
        return {k: merge_outputs([o.get(k) for o in present if isinstance(o, dict)]) for k in keys}
    if isinstance(first, list):
        merged: list[Any] = []
        seen: set[str] = set()
        for o in present:
            for item in o if isinstance(o, list) else [o]:
                marker = json.dumps(item, sort_keys=True)
                if marker not in seen:
                    seen.add(marker)
                    merged.append(item)
        return merged
    return first


def drop_oldest(messages: list[dict[str, str]], fits_: Callable[[list[dict[str, str]]], bool],
                ) -> list[dict[str, str]] | None:
    """Drop the oldest messages until `fits_` says yes; None if even the last one alone is too long."""
    for start in range(len(messages)):
        if fits_(messages[start:]):
            return messages[start:]
    return None

"""Will a request fit the model's context window? Estimates in tokens.

The estimate is deliberately conservative (3 characters a token, where English
runs near 4) so that a request judged to fit rarely meets a context-too-long 400.
"""

from __future__ import annotations

import json

from promptq.prompts.registry import Task
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


def fits(request: CallRequest, context_window: int) -> bool:
    return request_tokens(request) + request.max_tokens <= context_window


def fit_text(task: Task, text: str, context_window: int) -> str | None:
    """The longest beginning of `text` whose request fits the window; None if nothing fits."""
    fixed = estimate_tokens(task.prompt.template) + estimate_tokens(json.dumps(task.schema))
    budget_tokens = context_window - task.max_output_tokens - fixed - OVERHEAD_TOKENS
    if budget_tokens <= 0:
        return None
    return text[: int(budget_tokens * CHARS_PER_TOKEN * 0.95)]

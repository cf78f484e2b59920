"""OpenAI Chat Completions through the official SDK: strict JSON Schema for structure.

Works with any OpenAI-compatible server (vLLM, Ollama) through OPENAI_BASE_URL.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

import httpx2
import openai

from promptq.prompts.registry import OutputMode
from promptq.workers.llm.adapter import provider_schema, rate_headers
from promptq.workers.llm.errors import from_exception
from promptq.workers.llm.types import CallRequest, CallResponse, Provider, StopKind, Usage

_STOPS = {
    "stop": StopKind.COMPLETE,
    "tool_calls": StopKind.COMPLETE,
    "function_call": StopKind.COMPLETE,
    "length": StopKind.MAX_TOKENS,
    "content_filter": StopKind.REFUSAL,
}


class OpenAIAdapter:
    provider = Provider.OPENAI

    def __init__(self, *, api_key: str, base_url: str | None, timeout_s: float,
                 connect_timeout_s: float) -> None:
        self._client = openai.OpenAI(
            api_key=api_key, base_url=base_url, max_retries=0,
            timeout=httpx2.Timeout(timeout_s, connect=connect_timeout_s),
        )

    def call(self, req: CallRequest) -> CallResponse:
        messages: list[dict[str, Any]] = []
        if req.system:
            messages.append({"role": "system", "content": req.system})
        messages += [{"role": t.role, "content": t.text} for t in req.messages]
        kwargs: dict[str, Any] = {"model": req.model, "messages": messages,
                                  "max_completion_tokens": req.max_tokens}
        if req.output is OutputMode.TOOL:
            kwargs["response_format"] = {"type": "json_schema", "json_schema": {
                "name": req.tool_name, "description": req.tool_description,
                "schema": provider_schema(req.schema), "strict": True}}
        started = perf_counter()
        try:
            raw = self._client.chat.completions.with_raw_response.create(**kwargs)
            completion = raw.parse()
        except Exception as exc:  # converted once, here; unknown exceptions re-raise
            raise from_exception(exc) from None
        choice = completion.choices[0]
        message = choice.message
        stop = _STOPS.get(choice.finish_reason or "", StopKind.OTHER)
        if message.refusal:
            stop = StopKind.REFUSAL
        u = completion.usage
        cached = 0
        if u and u.prompt_tokens_details and u.prompt_tokens_details.cached_tokens:
            cached = u.prompt_tokens_details.cached_tokens
        # prompt_tokens includes the cached ones: subtract so they are priced once.
        usage = Usage((u.prompt_tokens - cached) if u else 0, u.completion_tokens if u else 0, 0, cached)
        return CallResponse(
            model=completion.model or req.model, stop=stop, usage=usage, tool_input=None,
            text=message.content or "", request_id=raw.headers.get("x-request-id"),
            latency_s=perf_counter() - started, headers=rate_headers(raw.headers),
            refusal=message.refusal or ("content filter" if stop is StopKind.REFUSAL else None),
        )

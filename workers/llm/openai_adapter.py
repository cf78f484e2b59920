"""OpenAI Chat Completions through the official SDK: strict JSON Schema for structure.

Works with any OpenAI-compatible server (vLLM, Ollama) through OPENAI_BASE_URL.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

import openai

from promptq.prompts.registry import OutputMode
from promptq.workers.llm.adapter import provider_schema, rate_headers, sdk_clients
from promptq.workers.llm.errors import FailureKind, ProviderFailure, from_exception
from promptq.workers.llm.types import CallRequest, CallResponse, OnDelta, Provider, StopKind, Usage

_STOPS = {
    "stop": StopKind.COMPLETE,
    "tool_calls": StopKind.COMPLETE,
    "function_call": StopKind.COMPLETE,
    "length": StopKind.MAX_TOKENS,
    "content_filter": StopKind.REFUSAL,
}


def _usage(u: Any) -> Usage:
    if u is None:
        return Usage()
    details = getattr(u, "prompt_tokens_details", None)
    cached = (getattr(details, "cached_tokens", 0) or 0) if details else 0
    # prompt_tokens includes the cached ones: subtract so they are priced once.
    return Usage(u.prompt_tokens - cached, u.completion_tokens, 0, cached)


class OpenAIAdapter:
    provider = Provider.OPENAI

    def __init__(self, *, api_key: str, base_url: str | None, timeout_s: float,
                 connect_timeout_s: float) -> None:
        self._clients = sdk_clients(openai.OpenAI, openai.DefaultHttpxClient, api_key=api_key,
                                    base_url=base_url, timeout_s=timeout_s, connect_timeout_s=connect_timeout_s)

    def count_tokens(self, req: CallRequest) -> int | None:
        """Chat Completions has no counting endpoint: promptq's estimate stands."""
        return None

    def call(self, req: CallRequest, on_delta: OnDelta | None = None) -> CallResponse:
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
            if req.stream:
                return self._streamed(req, kwargs, on_delta, started)
            raw = self._clients.get().chat.completions.with_raw_response.create(**kwargs)
            completion = raw.parse()
        except ProviderFailure:
            raise
        except Exception as exc:  # converted once, here; unknown exceptions re-raise
            raise from_exception(exc) from None
        choice = completion.choices[0]
        return self._response(req, completion.model, choice.finish_reason, choice.message.content,
                              choice.message.refusal, _usage(completion.usage), raw.headers, started)

    def _streamed(self, req: CallRequest, kwargs: dict[str, Any], on_delta: OnDelta | None,
                  started: float) -> CallResponse:
        raw = self._clients.get().chat.completions.with_raw_response.create(
            **kwargs, stream=True, stream_options={"include_usage": True})
        content: list[str] = []
        refusal: list[str] = []
        finish: str | None = None
        usage: Any = None
        model = req.model
        for chunk in raw.parse():
            model = chunk.model or model
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                if choice.delta.content:
                    content.append(choice.delta.content)
                    if on_delta is not None:
                        on_delta(choice.delta.content)
                if getattr(choice.delta, "refusal", None):
                    refusal.append(choice.delta.refusal)
                finish = choice.finish_reason or finish
        if finish is None:
            raise ProviderFailure(FailureKind.STREAM_TRUNCATED, "the stream ended without a finish reason",
                                  request_id=raw.headers.get("x-request-id"), usage=_usage(usage))
        return self._response(req, model, finish, "".join(content), "".join(refusal) or None,
                              _usage(usage), raw.headers, started)

    @staticmethod
    def _response(req: CallRequest, model: str | None, finish: str | None, content: str | None,
                  refusal: str | None, usage: Usage, headers: Any, started: float) -> CallResponse:
        stop = StopKind.REFUSAL if refusal else _STOPS.get(finish or "", StopKind.OTHER)
        return CallResponse(
            model=model or req.model, stop=stop, usage=usage, tool_input=None, text=content or "",
            request_id=headers.get("x-request-id"), latency_s=perf_counter() - started,
            headers=rate_headers(headers),
            refusal=refusal or ("content filter" if stop is StopKind.REFUSAL else None),
        )

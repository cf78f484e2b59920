"""Anthropic Messages API through the official SDK: forced tool use for structure."""

from __future__ import annotations

from time import perf_counter
from typing import Any

import anthropic

from promptq.prompts.registry import OutputMode
from promptq.workers.llm.adapter import provider_schema, rate_headers, sdk_clients
from promptq.workers.llm.errors import FailureKind, ProviderFailure, from_exception
from promptq.workers.llm.types import CallRequest, CallResponse, OnDelta, Provider, StopKind, Usage

_STOPS = {
    "end_turn": StopKind.COMPLETE,
    "tool_use": StopKind.COMPLETE,
    "stop_sequence": StopKind.COMPLETE,
    "max_tokens": StopKind.MAX_TOKENS,
    "refusal": StopKind.REFUSAL,
    "model_context_window_exceeded": StopKind.CONTEXT_EXCEEDED,
}


class AnthropicAdapter:
    provider = Provider.ANTHROPIC

    def __init__(self, *, api_key: str, base_url: str | None, timeout_s: float,
                 connect_timeout_s: float) -> None:
        self._clients = sdk_clients(anthropic.Anthropic, anthropic.DefaultHttpxClient, api_key=api_key,
                                    base_url=base_url, timeout_s=timeout_s, connect_timeout_s=connect_timeout_s)

    @staticmethod
    def _params(req: CallRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": req.model,
            "messages": [{"role": t.role, "content": t.text} for t in req.messages],
        }
        if req.system:
            params["system"] = req.system
        if req.output is OutputMode.TOOL:
            params["tools"] = [{"name": req.tool_name, "description": req.tool_description,
                                "input_schema": provider_schema(req.schema)}]
            params["tool_choice"] = {"type": "tool", "name": req.tool_name}
        return params

    def count_tokens(self, req: CallRequest) -> int | None:
        """POST /v1/messages/count_tokens: free, and exact where our estimate is not."""
        try:
            return self._clients.get().messages.count_tokens(**self._params(req)).input_tokens
        except Exception as exc:
            raise from_exception(exc) from None

    def call(self, req: CallRequest, on_delta: OnDelta | None = None) -> CallResponse:
        kwargs = {**self._params(req), "max_tokens": req.max_tokens}
        started = perf_counter()
        try:
            if req.stream:
                message, headers = self._streamed(kwargs, on_delta)
            else:
                raw = self._clients.get().messages.with_raw_response.create(**kwargs)
                message, headers = raw.parse(), raw.headers
        except ProviderFailure:
            raise
        except Exception as exc:  # converted once, here; unknown exceptions re-raise
            raise from_exception(exc) from None
        return self._response(req, message, headers, perf_counter() - started)

    def _streamed(self, kwargs: dict[str, Any], on_delta: OnDelta | None) -> tuple[Any, Any]:
        with self._clients.get().messages.stream(**kwargs) as stream:
            headers = stream.response.headers
            for event in stream:
                if on_delta is not None and event.type == "content_block_delta":
                    delta = event.delta
                    piece = getattr(delta, "text", None) or getattr(delta, "partial_json", None)
                    if piece:
                        on_delta(piece)
            message = stream.get_final_message()
        if message.stop_reason is None:
            # The stream ended without message_delta/message_stop: the SDK raises
            # nothing, so the answer would silently be partial.
            u = message.usage
            raise ProviderFailure(FailureKind.STREAM_TRUNCATED, "the stream ended without a stop reason",
                                  request_id=headers.get("request-id"),
                                  usage=Usage(u.input_tokens or 0, u.output_tokens or 0,
                                              u.cache_creation_input_tokens or 0,
                                              u.cache_read_input_tokens or 0))
        return message, headers

    @staticmethod
    def _response(req: CallRequest, message: Any, headers: Any, latency_s: float) -> CallResponse:
        tool_input = next((b.input for b in message.content
                           if b.type == "tool_use" and b.name == req.tool_name), None)
        text = "".join(b.text for b in message.content if b.type == "text")
        u = message.usage
        usage = Usage(u.input_tokens or 0, u.output_tokens or 0,
                      u.cache_creation_input_tokens or 0, u.cache_read_input_tokens or 0)
        stop = _STOPS.get(message.stop_reason or "", StopKind.OTHER)
        refusal = None
        if stop is StopKind.REFUSAL:
            details = getattr(message, "stop_details", None)
            refusal = getattr(details, "explanation", None) or text or "refused"
        return CallResponse(
            model=message.model or req.model, stop=stop, usage=usage,
            tool_input=dict(tool_input) if isinstance(tool_input, dict) else None,
            text=text, request_id=headers.get("request-id"), latency_s=latency_s,
            headers=rate_headers(headers), refusal=refusal,
        )

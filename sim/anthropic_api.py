"""Anthropic Messages API: ``POST /v1/messages`` and ``POST /v1/messages/count_tokens``."""

from __future__ import annotations

import json
import logging
import math
import time
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.routing import Route

from . import ids
from .faults import STATUS_FAULTS
from .pacing import generation_s, piece_delay, pieces
from .ratelimit import INPUT, OUTPUT, REQUESTS, LimitState
from .replies import STRUCTURED, TOOL, Answer, Task, compose, content_seed, prompt_json_task, read_document
from .state import SimState, Verdict
from .stats import Ticket
from .tokens import anthropic_segments, last_user_text, total_tokens
from .transport import COMPLETE, CUT, Headers, Reply, cut_json_reply, json_reply, retry_headers, sse_headers

log = logging.getLogger(__name__)

API = "anthropic"
REFUSAL_TEXT = "I can't help with that request."
REFUSAL_DETAILS = {
    "type": "refusal",
    "category": "cyber",
    "explanation": "The request was declined by the simulated safety classifier.",
}

_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}
_LIMIT_WORDS = {REQUESTS: "requests", INPUT: "input tokens", OUTPUT: "output tokens"}


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _error(kind: str, message: str, request_id: str, headers: Headers) -> Reply:
    body = _dumps({"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id})
    return json_reply(_ERROR_STATUS[kind], body, headers)


def _api_key(request: Request) -> str:
    key = request.headers.get("x-api-key", "")
    if key:
        return key
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _rfc3339(seconds_from_now: float) -> bytes:
    moment = time.gmtime(math.ceil(time.time() + seconds_from_now))
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", moment).encode()


def ratelimit_headers(states: list[LimitState]) -> Headers:
    """``anthropic-ratelimit-*`` headers; ``tokens-*`` repeats the tighter of input and output."""
    headers: Headers = []
    token_states = []
    for state in states:
        name = {REQUESTS: "requests", INPUT: "input-tokens", OUTPUT: "output-tokens"}[state.dimension]
        if state.dimension != REQUESTS:
            token_states.append(state)
        prefix = b"anthropic-ratelimit-" + name.encode()
        headers += [
            (prefix + b"-limit", str(state.limit).encode()),
            (prefix + b"-remaining", str(state.remaining).encode()),
            (prefix + b"-reset", _rfc3339(state.reset_s)),
        ]
    if token_states:
        tight = min(token_states, key=lambda s: s.remaining / s.limit)
        headers += [
            (b"anthropic-ratelimit-tokens-limit", str(tight.limit).encode()),
            (b"anthropic-ratelimit-tokens-remaining", str(tight.remaining).encode()),
            (b"anthropic-ratelimit-tokens-reset", _rfc3339(tight.reset_s)),
        ]
    return headers


_OPTIONAL_FIELDS = (
    ("system", (str, list), "a valid string or list"),
    ("tools", list, "a valid list"),
    ("tool_choice", dict, "a valid dictionary"),
    ("output_config", dict, "a valid dictionary"),
    ("stream", bool, "a valid boolean"),
)


def _validate(body: Any) -> str | None:
    """The API's message for an invalid body, or None."""
    if not isinstance(body, dict):
        return "Input should be a valid dictionary"
    for field in ("model", "max_tokens", "messages"):
        if field not in body:
            return f"{field}: Field required"
    if not isinstance(body["model"], str) or not body["model"]:
        return "model: Input should be a valid string"
    max_tokens = body["max_tokens"]
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        return "max_tokens: Input should be a valid integer greater than or equal to 1"
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    if not all(isinstance(m, dict) and m.get("role") in ("user", "assistant") for m in messages):
        return "messages: each message needs a role of 'user' or 'assistant'"
    if not all(isinstance(m.get("content"), (str, list)) for m in messages):
        return "messages: content should be a valid string or list of content blocks"
    for field, kinds, wanted in _OPTIONAL_FIELDS:
        if body.get(field) is not None and not isinstance(body[field], kinds):
            return f"{field}: Input should be {wanted}"
    output_format = (body.get("output_config") or {}).get("format")
    if output_format is not None and not isinstance(output_format, dict):
        return "output_config.format: Input should be a valid dictionary"
    return None


def _system_text(system: Any) -> str:
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        return "\n".join(str(b.get("text", "")) for b in system if isinstance(b, dict))
    return ""


def _task(body: dict[str, Any]) -> Task | str:
    """What the request asks for, or the error message of an impossible ``tool_choice``."""
    model, messages, system = body["model"], body["messages"], body.get("system")
    max_tokens = body["max_tokens"]
    tools = [t for t in body.get("tools") or () if isinstance(t, dict) and "name" in t]
    choice = body.get("tool_choice") or {}
    choice_type = choice.get("type", "auto") if isinstance(choice, dict) else "auto"
    output_format = (body.get("output_config") or {}).get("format") or {}
    tool = None
    if choice_type == "tool":
        tool = next((t for t in tools if t["name"] == choice.get("name")), None)
        if tool is None:
            return f"tool_choice: tool {choice.get('name')!r} was not found in 'tools'"
    elif choice_type == "any" and tools:
        tool = tools[0]
    elif choice_type == "any":
        return "tool_choice: 'any' requires at least one tool"
    if tool is None and output_format.get("type") == "json_schema":
        schema = output_format.get("schema") or {"type": "object"}
        return Task(STRUCTURED, content_seed(model, system, messages, schema), schema=schema, max_tokens=max_tokens)
    if tool is None and tools and choice_type == "auto":
        tool = tools[0]
    if tool is not None:
        schema = tool.get("input_schema") or {"type": "object"}
        seed = content_seed(model, system, messages, tool["name"], schema)
        return Task(TOOL, seed, schema=schema, tool_name=tool["name"], max_tokens=max_tokens)
    seed = content_seed(model, system, messages)
    return prompt_json_task(_system_text(system), last_user_text(messages), seed, max_tokens)


def _fault_reply(
    verdict: Verdict, model: str, prompt_tokens: int, state: SimState, rid: str, headers: Headers
) -> Reply:
    outcome = verdict.outcome
    config = state.config
    if outcome == "rate_limit":
        if verdict.limited_by is not None:
            limit = {REQUESTS: config.rpm, INPUT: config.input_tpm, OUTPUT: config.output_tpm}[verdict.limited_by]
            message = (
                f"This request would exceed your organization's rate limit of {limit:,} "
                f"{_LIMIT_WORDS[verdict.limited_by]} per minute (model: {model}). For details, refer to: "
                "https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage."
            )
        else:
            message = "Number of concurrent connections has exceeded your rate limit. Please try again later."
        return _error("rate_limit_error", message, rid, headers + retry_headers(verdict.retry_after_s or 0.0))
    if outcome in ("overloaded", "stream_error"):
        return _error("overloaded_error", "Overloaded", rid, headers)
    if outcome == "server_error":
        return _error("api_error", "Internal server error", rid, headers)
    if outcome == "context_too_long":
        shown = prompt_tokens if prompt_tokens > config.context_window else config.context_window + 1 + prompt_tokens
        message = f"prompt is too long: {shown} tokens > {config.context_window} maximum"
        return _error("invalid_request_error", message, rid, headers)
    if outcome == "bad_request":
        return _error("invalid_request_error", "messages.0.content: Input should be a valid list", rid, headers)
    if outcome == "auth":
        return _error("authentication_error", "invalid x-api-key", rid, headers)
    if outcome == "permission":
        return _error(
            "permission_error", "Your API key does not have permission to use the specified resource.", rid, headers
        )
    if outcome == "not_found":
        return _error("not_found_error", f"model: {model}", rid, headers)
    return _error("request_too_large", "Request exceeds the maximum allowed number of bytes.", rid, headers)


def _usage(cache: Any, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": cache.uncached,
        "cache_creation_input_tokens": cache.write,
        "cache_read_input_tokens": cache.read,
        "cache_creation": {"ephemeral_5m_input_tokens": cache.write_5m, "ephemeral_1h_input_tokens": cache.write_1h},
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def _stop(answer: Answer) -> tuple[str, dict[str, Any] | None]:
    if answer.refusal:
        return "refusal", REFUSAL_DETAILS
    if answer.truncated:
        return "max_tokens", None
    return ("tool_use" if answer.mode == TOOL else "end_turn"), None


def _block(answer: Answer, task: Task, tool_id: str, *, empty: bool) -> dict[str, Any]:
    if answer.mode == TOOL and not answer.refusal:
        return {"type": "tool_use", "id": tool_id, "name": task.tool_name, "input": {} if empty else answer.tool_input}
    return {"type": "text", "text": "" if empty else answer.text}


def _message(model: str, answer: Answer, task: Task, usage: dict[str, Any], *, streaming_start: bool) -> dict[str, Any]:
    stop_reason, stop_details = (None, None) if streaming_start else _stop(answer)
    return {
        "id": ids.anthropic_message_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [] if streaming_start else [_block(answer, task, ids.anthropic_tool_use_id(), empty=False)],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "stop_details": stop_details,
        "usage": usage,
    }


def _event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + _dumps(data) + b"\n\n"


def _stream(model: str, answer: Answer, task: Task, cache: Any, outcome: str, tps: float) -> tuple[list, str]:
    """SSE chunks ``(delay_s, bytes)`` and the ending, for the outcome of this request."""
    start_usage = _usage(cache, 1)
    start_message = _message(model, answer, task, start_usage, streaming_start=True)
    start = _event("message_start", {"type": "message_start", "message": start_message})
    if outcome == "stream_error":
        error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        return [(0.0, start), (0.0, _event("error", error))], COMPLETE
    is_tool = answer.mode == TOOL and not answer.refusal
    block = _block(answer, task, ids.anthropic_tool_use_id(), empty=True)
    chunks: list[tuple[float, bytes]] = [
        (0.0, start),
        (0.0, _event("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block})),
        (0.0, _event("ping", {"type": "ping"})),
    ]
    deltas = []
    for piece in pieces(answer.text, tps):
        if is_tool:
            delta = {"type": "input_json_delta", "partial_json": piece}
        else:
            delta = {"type": "text_delta", "text": piece}
        event = _event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        deltas.append((piece_delay(piece, tps), event))
    if outcome in ("cut_stream", "truncated_stream"):
        return chunks + deltas[: len(deltas) // 2], CUT if outcome == "cut_stream" else COMPLETE
    stop_reason, stop_details = _stop(answer)
    final_usage = {
        "input_tokens": cache.uncached,
        "cache_creation_input_tokens": cache.write,
        "cache_read_input_tokens": cache.read,
        "output_tokens": answer.output_tokens,
    }
    tail = [
        (0.0, _event("content_block_stop", {"type": "content_block_stop", "index": 0})),
        (
            0.0,
            _event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason, "stop_sequence": None, "stop_details": stop_details},
                    "usage": final_usage,
                },
            ),
        ),
        (0.0, _event("message_stop", {"type": "message_stop"})),
    ]
    return chunks + deltas + tail, COMPLETE


async def _messages(state: SimState, request: Request, ticket: Ticket, rid: str) -> Reply:
    headers: Headers = [(b"request-id", rid.encode())]
    raw = await request.body()
    stats = state.stats
    if not _api_key(request):
        ticket.record(None, "auth")
        return _error("authentication_error", "x-api-key header is required", rid, headers)
    try:
        body = json.loads(raw)
    except ValueError:
        ticket.record(None, "bad_request")
        return _error("invalid_request_error", "There was an error parsing the body of your request.", rid, headers)
    problem = _validate(body)
    if problem is not None:
        ticket.record(body.get("model") if isinstance(body, dict) else None, "bad_request")
        return _error("invalid_request_error", problem, rid, headers)
    model = body["model"]
    task = _task(body)
    if isinstance(task, str):
        ticket.record(model, "bad_request")
        return _error("invalid_request_error", task, rid, headers)
    config = state.config
    read_document(task, name=None, model=model, system_text=_system_text(body.get("system")),
                  messages=body["messages"], config=config)
    segments = anthropic_segments(body)
    prompt_tokens = total_tokens(segments)
    cache = state.cache.anthropic(model, segments, prompt_tokens, config.cache_min_tokens)
    answer = compose(task)
    # Cache reads do not count against the input-token limit, as Anthropic documents.
    marker_text = last_user_text(body["messages"])
    verdict = state.admit(model, prompt_tokens, cache.uncached + cache.write, answer.output_tokens, marker_text)
    if state.limiter.enabled:
        headers += ratelimit_headers(state.limiter.snapshot(model))
    outcome = verdict.outcome
    ticket.record(model, outcome, limited=verdict.limited_by is not None)
    stream = body.get("stream") is True
    if outcome in STATUS_FAULTS or (outcome == "stream_error" and not stream):
        return _fault_reply(verdict, model, prompt_tokens, state, rid, headers)
    state.cache.commit(cache)
    if outcome in ("malformed_output", "refusal"):
        answer = compose(task, outcome, REFUSAL_TEXT)
    stats.add_usage(cache.uncached, answer.output_tokens, cache.write, cache.read)
    delay = config.ttft_s + (config.stall_s if outcome == "timeout" else 0.0)
    if not stream:
        payload = _dumps(_message(model, answer, task, _usage(cache, answer.output_tokens), streaming_start=False))
        delay += generation_s(answer.output_tokens, config.tokens_per_s)
        if outcome in ("cut_stream", "truncated_stream"):
            return cut_json_reply(200, payload, headers, delay_s=delay)
        return json_reply(200, payload, headers, delay_s=delay)
    chunks, ending = _stream(model, answer, task, cache, outcome, config.tokens_per_s)
    return Reply(200, sse_headers(headers), chunks, delay_s=delay, ending=ending)


async def _count_tokens(state: SimState, request: Request) -> Reply:
    rid = ids.anthropic_request_id()
    headers: Headers = [(b"request-id", rid.encode())]
    raw = await request.body()
    state.stats.count_tokens += 1
    if not _api_key(request):
        return _error("authentication_error", "x-api-key header is required", rid, headers)
    try:
        body = json.loads(raw)
    except ValueError:
        return _error("invalid_request_error", "There was an error parsing the body of your request.", rid, headers)
    if not isinstance(body, dict) or "model" not in body or "messages" not in body:
        return _error("invalid_request_error", "model and messages are required", rid, headers)
    return json_reply(200, _dumps({"input_tokens": total_tokens(anthropic_segments(body))}), headers)


def routes(state: SimState) -> list[Route]:
    async def messages(request: Request) -> Reply:
        rid = ids.anthropic_request_id()
        ticket = state.stats.ticket(API)
        try:
            return await _messages(state, request, ticket, rid)
        except ClientDisconnect:
            ticket.record(None, "client_disconnected")
            raise
        except Exception:
            # Still an answer, and still counted: the stats must cover every request.
            log.exception("simulator error on POST /v1/messages")
            ticket.record(None, "sim_error")
            return _error("api_error", "Internal server error (simulator bug)", rid, [(b"request-id", rid.encode())])

    async def count_tokens(request: Request) -> Reply:
        return await _count_tokens(state, request)

    return [
        Route("/v1/messages", messages, methods=["POST"]),
        Route("/v1/messages/count_tokens", count_tokens, methods=["POST"]),
    ]

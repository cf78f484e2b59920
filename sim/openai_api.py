"""OpenAI Chat Completions API: ``POST /v1/chat/completions``."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.routing import Route

from . import ids
from .faults import STATUS_FAULTS
from .pacing import generation_s, piece_delay, pieces
from .ratelimit import INPUT, OUTPUT, REQUESTS, LimitState
from .replies import (
    JSON,
    STRUCTURED,
    TOOL,
    Answer,
    Task,
    compose,
    content_seed,
    find_schema,
    prompt_json_task,
    read_document,
)
from .state import SimState, Verdict
from .stats import Ticket
from .tokens import last_user_text, openai_segments, total_tokens
from .transport import COMPLETE, CUT, Headers, Reply, cut_json_reply, json_reply, retry_headers, sse_headers

log = logging.getLogger(__name__)

API = "openai"
REFUSAL_TEXT = "I'm sorry, but I can't assist with that request."
FINGERPRINT = "fp_sim0000001"
_DEFAULT_MAX_TOKENS = 16_384


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _error(
    status: int, message: str, kind: str, headers: Headers, *, param: str | None = None, code: str | None = None
) -> Reply:
    body = _dumps({"error": {"message": message, "type": kind, "param": param, "code": code}})
    return json_reply(status, body, headers)


def _api_key(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def duration(seconds: float) -> str:
    """OpenAI's reset format: ``6ms``, ``1.5s``, ``6m0s``."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    if seconds < 60:
        return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m" + f"{rest:.3f}".rstrip("0").rstrip(".") + "s"


def ratelimit_headers(states: list[LimitState]) -> Headers:
    """``x-ratelimit-*-requests`` and ``-tokens`` (the tighter of the input and output buckets)."""
    headers: Headers = []
    requests = next((s for s in states if s.dimension == REQUESTS), None)
    token_states = [s for s in states if s.dimension != REQUESTS]
    chosen = [("requests", requests)]
    if token_states:
        chosen.append(("tokens", min(token_states, key=lambda s: s.remaining / s.limit)))
    for name, state in chosen:
        if state is None:
            continue
        headers += [
            (b"x-ratelimit-limit-" + name.encode(), str(state.limit).encode()),
            (b"x-ratelimit-remaining-" + name.encode(), str(state.remaining).encode()),
            (b"x-ratelimit-reset-" + name.encode(), duration(state.reset_s).encode()),
        ]
    return headers


_OPTIONAL_FIELDS = (
    ("tools", list),
    ("tool_choice", (str, dict)),
    ("response_format", dict),
    ("stream_options", dict),
    ("stream", bool),
)


def _validate(body: Any) -> tuple[str, str | None, str | None] | None:
    """``(message, param, code)`` for an invalid body, or None."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object.", None, None
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "you must provide a model parameter", None, None
    messages = body.get("messages")
    if messages is None:
        return "Missing required parameter: 'messages'.", "messages", "missing_required_parameter"
    if not isinstance(messages, list) or not messages:
        return "Invalid 'messages': empty array. Expected an array with minimum length 1.", "messages", "empty_array"
    if not all(isinstance(m, dict) and "role" in m for m in messages):
        return "Invalid 'messages': each message needs a 'role'.", "messages", "invalid_value"
    if not all(isinstance(m.get("content"), (str, list, type(None))) for m in messages):
        return "Invalid 'messages': content must be a string or an array of parts.", "messages", "invalid_type"
    for field, kinds in _OPTIONAL_FIELDS:
        if body.get(field) is not None and not isinstance(body[field], kinds):
            return f"Invalid type for '{field}'.", field, "invalid_type"
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            return f"Invalid '{key}': integer below minimum value.", key, "integer_below_min_value"
    return None


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _task(body: dict[str, Any]) -> tuple[Task, bool] | str:
    """``(task, named)`` where ``named`` means a tool forced by name, or an error message."""
    model, messages = body["model"], body["messages"]
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or _DEFAULT_MAX_TOKENS
    tools = [
        t["function"]
        for t in body.get("tools") or ()
        if isinstance(t, dict) and t.get("type", "function") == "function" and isinstance(t.get("function"), dict)
    ]
    choice = body.get("tool_choice")
    response_format = body.get("response_format") or {}
    tool, named = None, False
    if isinstance(choice, dict):
        wanted = (choice.get("function") or {}).get("name") or choice.get("name")
        tool = next((t for t in tools if t.get("name") == wanted), None)
        if tool is None:
            return f"Invalid value for 'tool_choice': function '{wanted}' not found in 'tools'."
        named = True
    elif choice == "required":
        if not tools:
            return "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified."
        tool = tools[0]
    system_text = "\n".join(_text_of(m.get("content")) for m in messages if m.get("role") in ("system", "developer"))
    user_text = last_user_text(messages)
    if tool is None and response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {"type": "object"}
        return Task(STRUCTURED, content_seed(model, messages, schema), schema=schema, max_tokens=max_tokens), False
    if tool is None and tools and choice in (None, "auto"):
        tool = tools[0]
    if tool is not None:
        schema = tool.get("parameters") or {"type": "object", "properties": {}}
        seed = content_seed(model, messages, tool.get("name"), schema)
        return Task(TOOL, seed, schema=schema, tool_name=tool.get("name"), max_tokens=max_tokens), named
    seed = content_seed(model, messages)
    if response_format.get("type") == "json_object":
        schema = find_schema(user_text) or find_schema(system_text)
        return Task(JSON, seed, schema=schema, max_tokens=max_tokens), False
    return prompt_json_task(system_text, user_text, seed, max_tokens), False


def _fault_reply(verdict: Verdict, model: str, prompt_tokens: int, state: SimState, headers: Headers) -> Reply:
    outcome = verdict.outcome
    config = state.config
    if outcome == "rate_limit":
        wait = verdict.retry_after_s or 0.0
        dim = verdict.limited_by
        if dim is not None:
            limit = {REQUESTS: config.rpm, INPUT: config.input_tpm, OUTPUT: config.output_tpm}[dim]
            unit = "requests per min (RPM)" if dim == REQUESTS else "tokens per min (TPM)"
            kind = "requests" if dim == REQUESTS else "tokens"
        else:
            limit, unit, kind = config.rpm or 500, "requests per min (RPM)", "requests"
        message = (
            f"Rate limit reached for {model} in organization org-sim on {unit}: Limit {limit}. "
            f"Please try again in {duration(wait)}. "
            "Visit https://platform.openai.com/account/rate-limits to learn more."
        )
        return _error(429, message, kind, headers + retry_headers(wait), code="rate_limit_exceeded")
    if outcome in ("overloaded", "stream_error"):
        return _error(503, "The engine is currently overloaded, please try again later.", "server_error", headers)
    if outcome == "server_error":
        return _error(
            500, "The server had an error while processing your request. Sorry about that!", "server_error", headers
        )
    if outcome == "context_too_long":
        shown = prompt_tokens if prompt_tokens > config.context_window else config.context_window + 1 + prompt_tokens
        message = (
            f"This model's maximum context length is {config.context_window} tokens. However, your messages "
            f"resulted in {shown} tokens. Please reduce the length of the messages."
        )
        return _error(400, message, "invalid_request_error", headers, param="messages", code="context_length_exceeded")
    if outcome == "bad_request":
        return _error(
            400, "Invalid value for 'messages[0].content'.", "invalid_request_error", headers, param="messages"
        )
    if outcome == "auth":
        return _error(
            401,
            "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            headers,
            code="invalid_api_key",
        )
    if outcome == "permission":
        return _error(403, "You are not allowed to sample from this model", "invalid_request_error", headers)
    if outcome == "not_found":
        return _error(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            "invalid_request_error",
            headers,
            code="model_not_found",
        )
    return _error(413, "Request too large.", "invalid_request_error", headers, code="request_too_large")


def _usage(prompt_tokens: int, cached: int, completion_tokens: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _finish_reason(answer: Answer, named: bool) -> str:
    if answer.refusal:
        return "content_filter"
    if answer.truncated:
        return "length"
    if answer.mode == TOOL:
        # The real API reports "stop" when the tool was forced by name.
        return "stop" if named else "tool_calls"
    return "stop"


def _completion(model: str, answer: Answer, task: Task, named: bool, usage: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None, "annotations": []}
    if answer.refusal:
        message["refusal"] = answer.text
    elif answer.mode == TOOL:
        message["tool_calls"] = [
            {
                "id": ids.openai_call_id(),
                "type": "function",
                "function": {"name": task.tool_name, "arguments": answer.text},
            }
        ]
    else:
        message["content"] = answer.text
    return {
        "id": ids.openai_completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": _finish_reason(answer, named)}],
        "usage": usage,
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }


def _stream(
    model: str,
    answer: Answer,
    task: Task,
    named: bool,
    usage: dict[str, Any],
    include_usage: bool,
    outcome: str,
    tps: float,
) -> tuple[list, str]:
    """SSE chunks ``(delay_s, bytes)`` and the ending."""
    base = {
        "id": ids.openai_completion_id(),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        data = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if include_usage:
            data["usage"] = None
        return b"data: " + _dumps(data) + b"\n\n"

    is_tool = answer.mode == TOOL and not answer.refusal
    if answer.refusal:
        first = {"role": "assistant", "content": None, "refusal": ""}
    elif is_tool:
        function = {"name": task.tool_name, "arguments": ""}
        call = {"index": 0, "id": ids.openai_call_id(), "type": "function", "function": function}
        first = {"role": "assistant", "content": None, "tool_calls": [call], "refusal": None}
    else:
        first = {"role": "assistant", "content": "", "refusal": None}
    chunks: list[tuple[float, bytes]] = [(0.0, chunk(first))]
    if outcome == "stream_error":
        error = {
            "error": {
                "message": "The server had an error while processing your request. Sorry about that!",
                "type": "server_error",
                "param": None,
                "code": None,
            }
        }
        return chunks + [(0.0, b"data: " + _dumps(error) + b"\n\n")], COMPLETE
    deltas = []
    for piece in pieces(answer.text, tps):
        if answer.refusal:
            delta: dict[str, Any] = {"refusal": piece}
        elif is_tool:
            delta = {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
        else:
            delta = {"content": piece}
        deltas.append((piece_delay(piece, tps), chunk(delta)))
    if outcome in ("cut_stream", "truncated_stream"):
        return chunks + deltas[: len(deltas) // 2], CUT if outcome == "cut_stream" else COMPLETE
    tail = [(0.0, chunk({}, _finish_reason(answer, named)))]
    if include_usage:
        tail.append((0.0, b"data: " + _dumps({**base, "choices": [], "usage": usage}) + b"\n\n"))
    tail.append((0.0, b"data: [DONE]\n\n"))
    return chunks + deltas + tail, COMPLETE


async def _chat_completions(state: SimState, request: Request, ticket: Ticket, rid: str) -> Reply:
    headers: Headers = [(b"x-request-id", rid.encode()), (b"openai-version", b"2020-10-01")]
    raw = await request.body()
    stats = state.stats
    if not _api_key(request):
        ticket.record(None, "auth")
        return _error(
            401,
            "You didn't provide an API key. You need to provide your API key in an Authorization header "
            "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            "invalid_request_error",
            headers,
        )
    try:
        body = json.loads(raw)
    except ValueError:
        ticket.record(None, "bad_request")
        return _error(400, "We could not parse the JSON body of your request.", "invalid_request_error", headers)
    problem = _validate(body)
    if problem is not None:
        ticket.record(body.get("model") if isinstance(body, dict) else None, "bad_request")
        message, param, code = problem
        return _error(400, message, "invalid_request_error", headers, param=param, code=code)
    model = body["model"]
    planned = _task(body)
    if isinstance(planned, str):
        ticket.record(model, "bad_request")
        return _error(400, planned, "invalid_request_error", headers, param="tool_choice")
    task, named = planned
    config = state.config
    messages = body["messages"]
    format_name = ((body.get("response_format") or {}).get("json_schema") or {}).get("name")
    system_text = "\n".join(_text_of(m.get("content")) for m in messages
                            if isinstance(m, dict) and m.get("role") in ("system", "developer"))
    read_document(task, name=format_name if isinstance(format_name, str) else None, model=model,
                  system_text=system_text, messages=messages, config=config)
    segments = openai_segments(body)
    prompt_tokens = total_tokens(segments)
    cache = state.cache.openai(model, segments, prompt_tokens)
    answer = compose(task)
    verdict = state.admit(model, prompt_tokens, prompt_tokens, answer.output_tokens, last_user_text(body["messages"]))
    if state.limiter.enabled:
        headers += ratelimit_headers(state.limiter.snapshot(model))
    outcome = verdict.outcome
    ticket.record(model, outcome, limited=verdict.limited_by is not None)
    stream = body.get("stream") is True
    if outcome in STATUS_FAULTS or (outcome == "stream_error" and not stream):
        return _fault_reply(verdict, model, prompt_tokens, state, headers)
    state.cache.commit(cache)
    if outcome in ("malformed_output", "refusal"):
        answer = compose(task, outcome, REFUSAL_TEXT)
    stats.add_usage(prompt_tokens - cache.read, answer.output_tokens, 0, cache.read)
    usage = _usage(prompt_tokens, cache.read, answer.output_tokens)
    delay = config.ttft_s + (config.stall_s if outcome == "timeout" else 0.0)
    if not stream:
        delay += generation_s(answer.output_tokens, config.tokens_per_s)
        headers.append((b"openai-processing-ms", str(round(delay * 1000)).encode()))
        payload = _dumps(_completion(model, answer, task, named, usage))
        if outcome in ("cut_stream", "truncated_stream"):
            return cut_json_reply(200, payload, headers, delay_s=delay)
        return json_reply(200, payload, headers, delay_s=delay)
    headers.append((b"openai-processing-ms", str(round(config.ttft_s * 1000)).encode()))
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    chunks, ending = _stream(model, answer, task, named, usage, include_usage, outcome, config.tokens_per_s)
    return Reply(200, sse_headers(headers), chunks, delay_s=delay, ending=ending)


def routes(state: SimState) -> list[Route]:
    async def chat_completions(request: Request) -> Reply:
        rid = ids.openai_request_id()
        ticket = state.stats.ticket(API)
        try:
            return await _chat_completions(state, request, ticket, rid)
        except ClientDisconnect:
            ticket.record(None, "client_disconnected")
            raise
        except Exception:
            # Still an answer, and still counted: the stats must cover every request.
            log.exception("simulator error on POST /v1/chat/completions")
            ticket.record(None, "sim_error")
            headers = [(b"x-request-id", rid.encode())]
            return _error(500, "The server had an error (simulator bug).", "server_error", headers)

    return [Route("/v1/chat/completions", chat_completions, methods=["POST"])]

"""Provider failures, converted once at the boundary into promptq's own type.

Nothing outside this module looks at SDK exception classes. Classification goes
by HTTP status and the error `type`/`code` in the body, not by exception class:
an Anthropic in-stream `overloaded_error` arrives as a base APIStatusError with
status 200, and a cut stream as a raw httpx2 transport exception.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import StrEnum
from time import time
from typing import Any

import anthropic
import httpx2
import openai

from promptq.workers.llm.types import Usage


class FailureKind(StrEnum):
    RATE_LIMITED = "rate_limited"          # 429
    OVERLOADED = "overloaded"              # 529, OpenAI 503, in-stream overloaded_error
    SERVER_ERROR = "server_error"          # other 5xx, 408, 409
    TIMEOUT = "timeout"                    # our deadline fired
    CONNECTION = "connection"              # never reached the provider (refused, DNS)
    NO_RESPONSE = "no_response"            # the connection closed before any answer (a stale
                                           # keep-alive socket): likely never received
    STREAM_CUT = "stream_cut"              # transport failed mid-response
    STREAM_TRUNCATED = "stream_truncated"  # a stream that ended without a stop reason
    BAD_REQUEST = "bad_request"            # 400, 422
    AUTH = "auth"                          # 401
    PAYMENT = "payment"                    # 402, OpenAI insufficient_quota
    PERMISSION = "permission"              # 403
    NOT_FOUND = "not_found"                # 404 (unknown model)
    TOO_LARGE = "too_large"                # 413
    CONTEXT_TOO_LONG = "context_too_long"  # the prompt exceeds the model's window
    REFUSAL = "refusal"                    # the model declined
    INVALID_OUTPUT = "invalid_output"      # output that does not parse or validate
    MAX_TOKENS = "max_tokens"              # output cut by the token budget
    NOT_CONFIGURED = "not_configured"      # no credentials for this model's provider


@dataclass
class ProviderFailure(Exception):
    """A failed call, serialisable (it travels into the store, never an SDK object)."""

    kind: FailureKind
    message: str
    status_code: int | None = None
    retry_after_s: float | None = None  # seconds, from retry-after-ms / retry-after
    request_id: str | None = None
    usage: Usage | None = None          # tokens billed although the call failed

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


_BY_STATUS: dict[int, FailureKind] = {
    400: FailureKind.BAD_REQUEST,
    401: FailureKind.AUTH,
    402: FailureKind.PAYMENT,
    403: FailureKind.PERMISSION,
    404: FailureKind.NOT_FOUND,
    408: FailureKind.SERVER_ERROR,
    409: FailureKind.SERVER_ERROR,
    413: FailureKind.TOO_LARGE,
    422: FailureKind.BAD_REQUEST,
    429: FailureKind.RATE_LIMITED,
    503: FailureKind.OVERLOADED,
    529: FailureKind.OVERLOADED,
}

# Error `type` (Anthropic) or `code` (OpenAI) in the body, which wins over the status.
_BY_ERROR_TYPE: dict[str, FailureKind] = {
    "overloaded_error": FailureKind.OVERLOADED,
    "rate_limit_error": FailureKind.RATE_LIMITED,
    "rate_limit_exceeded": FailureKind.RATE_LIMITED,
    "insufficient_quota": FailureKind.PAYMENT,
    "context_length_exceeded": FailureKind.CONTEXT_TOO_LONG,
    "request_too_large": FailureKind.TOO_LARGE,
    "api_error": FailureKind.SERVER_ERROR,
    "server_error": FailureKind.SERVER_ERROR,
}

_CONTEXT_PHRASES = ("prompt is too long", "context window", "context_length_exceeded",
                    "maximum context length")


def parse_retry_after(headers: Any, now: float | None = None) -> float | None:
    """Seconds to wait as the provider asks: `retry-after-ms`, then `retry-after`
    (seconds, float, or an HTTP date). None when neither is present or parseable."""
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time() if now is None else now))


def _error_type(body: Any) -> tuple[str | None, str | None]:
    """(type, code) from either provider's error body."""
    if not isinstance(body, dict):
        return None, None
    err = body.get("error", body)
    if not isinstance(err, dict):
        return None, None
    return err.get("type"), err.get("code")


def classify_status(status: int, error_type: str | None, code: str | None, message: str) -> FailureKind:
    """The failure kind of an HTTP error answer: a pure function, tested by a table."""
    for key in (code, error_type):
        if key in _BY_ERROR_TYPE:
            kind = _BY_ERROR_TYPE[key]
            if kind is FailureKind.SERVER_ERROR and status in _BY_STATUS:
                break  # a generic type says less than a specific status
            return kind
    if status in (400, 413) and any(p in message.lower() for p in _CONTEXT_PHRASES):
        return FailureKind.CONTEXT_TOO_LONG
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return FailureKind.SERVER_ERROR
    return FailureKind.BAD_REQUEST


def from_exception(exc: BaseException) -> ProviderFailure:
    """Convert any exception raised by an SDK call into a ProviderFailure."""
    if isinstance(exc, ProviderFailure):
        return exc
    if isinstance(exc, (anthropic.APIStatusError, openai.APIStatusError)):
        error_type, code = _error_type(exc.body)
        message = str(getattr(exc, "message", exc))
        kind = classify_status(exc.status_code, error_type, code, message)
        return ProviderFailure(kind, message[:500], exc.status_code,
                               parse_retry_after(exc.response.headers),
                               exc.response.headers.get("request-id")
                               or exc.response.headers.get("x-request-id"))
    if isinstance(exc, (anthropic.APITimeoutError, openai.APITimeoutError, httpx2.TimeoutException)):
        return ProviderFailure(FailureKind.TIMEOUT, "the call's deadline passed")
    if isinstance(exc, (anthropic.APIConnectionError, openai.APIConnectionError)):
        cause = exc.__cause__
        if isinstance(cause, httpx2.ConnectError):
            return ProviderFailure(FailureKind.CONNECTION, f"cannot connect: {cause}")
        if isinstance(cause, httpx2.RemoteProtocolError) and "without sending a response" in str(cause):
            return ProviderFailure(FailureKind.NO_RESPONSE, "the server closed the connection before answering")
        return ProviderFailure(FailureKind.STREAM_CUT, f"connection failed mid-call: {cause or exc}")
    if isinstance(exc, httpx2.ConnectError):
        return ProviderFailure(FailureKind.CONNECTION, f"cannot connect: {exc}")
    if isinstance(exc, httpx2.TransportError):
        return ProviderFailure(FailureKind.STREAM_CUT, f"transport error: {type(exc).__name__}")
    if isinstance(exc, json.JSONDecodeError):
        return ProviderFailure(FailureKind.STREAM_CUT, "malformed event in the response stream")
    if isinstance(exc, (anthropic.APIResponseValidationError, openai.APIResponseValidationError)):
        return ProviderFailure(FailureKind.SERVER_ERROR, "the provider's answer did not parse")
    if isinstance(exc, (anthropic.APIError, openai.APIError)):
        # An error event inside a streamed 200 answer (the OpenAI SDK raises a bare
        # APIError for it): no status of its own, so its type decides, and an unknown
        # type counts as the provider's fault.
        error_type, code = _error_type(exc.body)
        message = str(getattr(exc, "message", exc))
        return ProviderFailure(classify_status(500, error_type, code, message), message[:500])
    raise exc

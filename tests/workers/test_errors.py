"""Provider errors become FailureKinds in one place, by status and body type."""

from __future__ import annotations

import anthropic
import httpx2
import openai
import pytest

from promptq.workers.llm.errors import FailureKind as K
from promptq.workers.llm.errors import classify_status, from_exception, parse_retry_after


@pytest.mark.parametrize(("status", "error_type", "code", "message", "kind"), [
    (429, "rate_limit_error", None, "", K.RATE_LIMITED),
    (429, "insufficient_quota", "insufficient_quota", "", K.PAYMENT),
    (529, "overloaded_error", None, "Overloaded", K.OVERLOADED),
    (200, "overloaded_error", None, "Overloaded", K.OVERLOADED),   # Anthropic in-stream error
    (503, "server_error", None, "The engine is currently overloaded", K.OVERLOADED),
    (500, "api_error", None, "", K.SERVER_ERROR),
    (502, None, None, "", K.SERVER_ERROR),
    (400, "invalid_request_error", None, "prompt is too long: 210000 tokens > 200000 maximum",
     K.CONTEXT_TOO_LONG),
    (400, "invalid_request_error", "context_length_exceeded", "", K.CONTEXT_TOO_LONG),
    (400, "invalid_request_error", None, "max_tokens: field required", K.BAD_REQUEST),
    (401, "authentication_error", None, "", K.AUTH),
    (403, "permission_error", None, "", K.PERMISSION),
    (404, "not_found_error", None, "", K.NOT_FOUND),
    (413, "request_too_large", None, "", K.TOO_LARGE),
    (408, None, None, "", K.SERVER_ERROR),
    (422, None, None, "", K.BAD_REQUEST),
])
def test_status_and_error_type_classify(status, error_type, code, message, kind):
    assert classify_status(status, error_type, code, message) is kind


@pytest.mark.parametrize(("headers", "seconds"), [
    ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
    ({"retry-after": "12"}, 12.0),
    ({"retry-after": "0.25"}, 0.25),
    ({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, 0.0),  # a past date: now
    ({"retry-after": "soon"}, None),
    ({}, None),
])
def test_retry_after_headers_parse_to_seconds(headers, seconds):
    assert parse_retry_after(headers) == seconds


def test_retry_after_http_date_counts_from_now():
    assert parse_retry_after({"retry-after": "Thu, 01 Jan 2037 00:01:00 GMT"},
                             now=2114380800.0) == pytest.approx(60.0)


@pytest.mark.parametrize(("cause", "kind"), [
    (httpx2.ConnectError("refused"), K.CONNECTION),
    (httpx2.RemoteProtocolError("Server disconnected without sending a response."), K.NO_RESPONSE),
    (httpx2.RemoteProtocolError("peer closed connection without sending complete message body"),
     K.STREAM_CUT),
    (httpx2.ReadError("reset"), K.STREAM_CUT),
])
def test_transport_failures_are_told_apart_by_their_cause(cause, kind):
    request = httpx2.Request("POST", "http://sim/v1/messages")
    for sdk_error in (anthropic.APIConnectionError, openai.APIConnectionError):
        try:
            try:
                raise cause
            except Exception as inner:
                raise sdk_error(request=request) from inner
        except Exception as exc:
            assert from_exception(exc).kind is kind


def test_a_timeout_is_a_timeout_on_either_sdk():
    request = httpx2.Request("POST", "http://sim/v1/messages")
    assert from_exception(anthropic.APITimeoutError(request=request)).kind is K.TIMEOUT
    assert from_exception(openai.APITimeoutError(request=request)).kind is K.TIMEOUT
    assert from_exception(httpx2.ReadTimeout("slow")).kind is K.TIMEOUT


@pytest.mark.parametrize(("body", "kind"), [
    ({"type": "server_error", "message": "The server had an error"}, K.SERVER_ERROR),
    ({"error": {"type": "overloaded_error", "message": "Overloaded"}}, K.OVERLOADED),
    ({"type": "rate_limit_error", "message": "slow down"}, K.RATE_LIMITED),
    (None, K.SERVER_ERROR),
])
def test_an_error_event_inside_a_stream_is_classified_by_its_type(body, kind):
    request = httpx2.Request("POST", "http://sim/v1/chat/completions")
    for sdk_error in (anthropic.APIError, openai.APIError):
        assert from_exception(sdk_error("failed mid-stream", request, body=body)).kind is kind

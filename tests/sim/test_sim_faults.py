"""Each injected fault surfaces in the official SDKs as the real provider's failure would."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx2
import jsonschema
import openai
import pytest

CLAUDE = "claude-sonnet-4-6"
GPT = "gpt-4o-mini"


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def ask_claude(claude: anthropic.Anthropic, text: str = "Hello", **extra: Any) -> anthropic.types.Message:
    return claude.messages.create(model=CLAUDE, max_tokens=256, messages=user(text), **extra)


def ask_gpt(gpt: openai.OpenAI, text: str = "Hello", **extra: Any):
    return gpt.chat.completions.create(model=GPT, messages=user(text), **extra)


# -- Anthropic: HTTP status faults --------------------------------------------------------


def test_rate_limit_fault_raises_rate_limit_error_with_retry_after(simulator, claude):
    simulator.configure(retry_after_s=7)
    simulator.script("rate_limit")

    with pytest.raises(anthropic.RateLimitError) as caught:
        ask_claude(claude)

    error = caught.value
    assert error.status_code == 429
    assert error.body["error"]["type"] == "rate_limit_error"
    assert error.response.headers["retry-after"] == "7"
    assert error.response.headers["retry-after-ms"] == "7000"
    assert error.request_id and error.request_id.startswith("req_")


def test_overloaded_fault_raises_overloaded_error_529(simulator, claude):
    simulator.script("overloaded")
    with pytest.raises(anthropic.OverloadedError) as caught:
        ask_claude(claude)
    assert caught.value.status_code == 529
    assert caught.value.body["error"]["type"] == "overloaded_error"


def test_server_error_fault_raises_internal_server_error(simulator, claude):
    simulator.script("server_error")
    with pytest.raises(anthropic.InternalServerError) as caught:
        ask_claude(claude)
    assert caught.value.status_code == 500 and caught.value.body["error"]["type"] == "api_error"


def test_context_too_long_fault_is_a_bad_request_saying_prompt_is_too_long(simulator, claude):
    simulator.script("context_too_long")
    with pytest.raises(anthropic.BadRequestError) as caught:
        ask_claude(claude)
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    assert caught.value.body["error"]["message"].startswith("prompt is too long:")


def test_prompt_beyond_the_context_window_is_rejected_without_any_fault(simulator, claude):
    simulator.configure(context_window=100)
    with pytest.raises(anthropic.BadRequestError, match="prompt is too long: 101 tokens > 100 maximum"):
        ask_claude(claude, "x" * 404)
    assert simulator.stats()["by_outcome"] == {"context_too_long": 1}


@pytest.mark.parametrize(
    ("fault", "error_class", "status"),
    [
        ("bad_request", anthropic.BadRequestError, 400),
        ("auth", anthropic.AuthenticationError, 401),
        ("permission", anthropic.PermissionDeniedError, 403),
        ("not_found", anthropic.NotFoundError, 404),
        ("too_large", anthropic.ContentTooLargeError, 413),
    ],
)
def test_client_error_faults_raise_the_matching_sdk_error(simulator, claude, fault, error_class, status):
    simulator.script(fault)
    with pytest.raises(error_class) as caught:
        ask_claude(claude)
    assert caught.value.status_code == status


# -- Anthropic: transport faults ------------------------------------------------------------


def test_cut_stream_raises_a_transport_error_mid_stream(simulator, claude):
    simulator.script("cut_stream")
    events = []
    with pytest.raises((httpx2.TransportError, anthropic.APIConnectionError)):
        with claude.messages.stream(model=CLAUDE, max_tokens=256, messages=user("Hello")) as stream:
            for event in stream:
                events.append(event.type)
    assert events[0] == "message_start"  # some output arrived before the cut


def test_cut_response_raises_api_connection_error_when_not_streaming(simulator, claude):
    simulator.script("cut_stream")
    with pytest.raises(anthropic.APIConnectionError):
        ask_claude(claude)


def test_truncated_stream_ends_without_message_stop_or_stop_reason(simulator, claude):
    simulator.script("truncated_stream")
    with claude.messages.stream(model=CLAUDE, max_tokens=256, messages=user("Hello")) as stream:
        types = [event.type for event in stream]
        final = stream.get_final_message()
    assert "message_stop" not in types and "message_delta" not in types
    assert final.stop_reason is None


def test_truncated_response_when_not_streaming_is_a_connection_error(simulator, claude):
    simulator.script("truncated_stream")
    with pytest.raises(anthropic.APIConnectionError):
        ask_claude(claude)


def test_in_stream_error_raises_api_status_error_with_an_overloaded_body(simulator, claude):
    simulator.script("stream_error")
    with pytest.raises(anthropic.APIStatusError) as caught:
        with claude.messages.stream(model=CLAUDE, max_tokens=256, messages=user("Hello")) as stream:
            stream.get_final_message()
    error = caught.value
    assert type(error) is anthropic.APIStatusError  # the base class: the HTTP status was 200
    assert error.status_code == 200
    assert error.body["error"]["type"] == "overloaded_error"


def test_stream_error_fault_without_streaming_is_overloaded(simulator, claude):
    simulator.script("stream_error")
    with pytest.raises(anthropic.OverloadedError):
        ask_claude(claude)


def test_timeout_fault_stalls_past_the_client_deadline(simulator, claude):
    simulator.configure(stall_s=5.0)
    simulator.script("timeout")
    with pytest.raises(anthropic.APITimeoutError):
        claude.with_options(timeout=0.5).messages.create(model=CLAUDE, max_tokens=64, messages=user("Hello"))
    # the stalled request does not block the next one
    assert ask_claude(claude).stop_reason == "end_turn"


# -- Anthropic: output faults ---------------------------------------------------------------


def test_refusal_fault_gives_stop_reason_refusal_with_details_and_no_tool_use(simulator, claude, invoice_tool):
    simulator.script("refusal")
    message = ask_claude(claude, tools=[invoice_tool], tool_choice={"type": "tool", "name": "extract_invoice"})
    assert message.stop_reason == "refusal"
    assert message.stop_details.type == "refusal" and message.stop_details.category == "cyber"
    assert [block.type for block in message.content] == ["text"]


def test_streamed_refusal_carries_stop_details(simulator, claude):
    simulator.script("refusal")
    with claude.messages.stream(model=CLAUDE, max_tokens=256, messages=user("Hello")) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "refusal" and final.stop_details.explanation


def test_malformed_output_fault_gives_tool_input_that_fails_the_schema(simulator, claude, invoice_tool, invoice_schema):
    simulator.script("malformed_output")
    message = ask_claude(claude, tools=[invoice_tool], tool_choice={"type": "tool", "name": "extract_invoice"})
    assert message.stop_reason == "tool_use"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(message.content[0].input, invoice_schema)


def test_malformed_output_fault_breaks_prompted_json(simulator, claude):
    simulator.script("malformed_output")
    text = ask_claude(claude, "Reply in JSON.").content[0].text
    with pytest.raises(ValueError):
        json.loads(text)


# -- how faults are chosen --------------------------------------------------------------------


def test_marker_fails_the_first_n_requests_then_succeeds(claude):
    document = "Invoice 77 from Initech [[sim:rate_limit:2]]"
    for _ in range(2):
        with pytest.raises(anthropic.RateLimitError):
            ask_claude(claude, document)
    assert ask_claude(claude, document).stop_reason == "end_turn"


def test_marker_budget_is_kept_per_document(claude):
    with pytest.raises(anthropic.OverloadedError):
        ask_claude(claude, "Document A [[sim:overloaded]]")
    with pytest.raises(anthropic.OverloadedError):
        ask_claude(claude, "Document B [[sim:overloaded]]")
    assert ask_claude(claude, "Document A [[sim:overloaded]]").stop_reason == "end_turn"


def test_marker_works_for_openai_too(gpt):
    with pytest.raises(openai.InternalServerError):
        ask_gpt(gpt, "Receipt 5 [[sim:server_error]]")
    assert ask_gpt(gpt, "Receipt 5 [[sim:server_error]]").choices[0].finish_reason == "stop"


def test_script_is_consumed_one_fault_per_request_in_order(simulator, claude):
    simulator.script("rate_limit", "ok", "overloaded")
    with pytest.raises(anthropic.RateLimitError):
        ask_claude(claude)
    assert ask_claude(claude).stop_reason == "end_turn"
    with pytest.raises(anthropic.OverloadedError):
        ask_claude(claude)
    assert ask_claude(claude).stop_reason == "end_turn"


def test_script_overrides_random_rates(simulator, claude):
    simulator.configure(fault_rates={"overloaded": 1.0})
    simulator.script("ok")
    assert ask_claude(claude).stop_reason == "end_turn"
    with pytest.raises(anthropic.OverloadedError):
        ask_claude(claude)


def test_random_fault_rates_follow_the_configured_probabilities(simulator, claude):
    simulator.configure(fault_rates={"server_error": 0.5}, seed=3)
    failures = 0
    for _ in range(40):
        try:
            ask_claude(claude)
        except anthropic.InternalServerError:
            failures += 1
    assert 8 <= failures <= 32
    assert simulator.stats()["by_outcome"] == {"server_error": failures, "ok": 40 - failures}


def test_unknown_fault_names_are_rejected_by_the_control_plane(simulator):
    assert simulator.http.post("/_sim/script", json={"faults": ["meltdown"]}).status_code == 400
    assert simulator.http.post("/_sim/config", json={"fault_rates": {"meltdown": 0.1}}).status_code == 400


# -- OpenAI --------------------------------------------------------------------------------------


def test_openai_rate_limit_fault_raises_rate_limit_error_with_code(simulator, gpt):
    simulator.script("rate_limit")
    with pytest.raises(openai.RateLimitError) as caught:
        ask_gpt(gpt)
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.response.headers["retry-after"] == "1"
    assert caught.value.request_id.startswith("req_")


def test_openai_context_too_long_fault_has_code_context_length_exceeded(simulator, gpt):
    simulator.script("context_too_long")
    with pytest.raises(openai.BadRequestError) as caught:
        ask_gpt(gpt)
    assert caught.value.code == "context_length_exceeded"
    assert caught.value.type == "invalid_request_error"


def test_openai_overloaded_fault_is_a_503_internal_server_error(simulator, gpt):
    simulator.script("overloaded")
    with pytest.raises(openai.InternalServerError) as caught:
        ask_gpt(gpt)
    assert caught.value.status_code == 503
    assert "overloaded" in caught.value.message


@pytest.mark.parametrize("stream", [False, True])
def test_openai_cut_stream_raises_api_connection_error(simulator, gpt, stream):
    simulator.script("cut_stream")
    with pytest.raises(openai.APIConnectionError):
        response = ask_gpt(gpt, stream=stream)
        if stream:
            list(response)


def test_openai_truncated_stream_has_no_finish_reason_and_no_done(simulator, gpt):
    simulator.script("truncated_stream")
    chunks = list(ask_gpt(gpt, stream=True, stream_options={"include_usage": True}))
    assert chunks and all(c.choices[0].finish_reason is None for c in chunks)
    assert all(c.usage is None for c in chunks)


def test_openai_stream_error_raises_api_error(simulator, gpt):
    simulator.script("stream_error")
    with pytest.raises(openai.APIError, match="server had an error"):
        list(ask_gpt(gpt, stream=True))


def test_openai_refusal_fault_sets_refusal_and_content_filter(simulator, gpt):
    simulator.script("refusal")
    choice = ask_gpt(gpt).choices[0]
    assert choice.finish_reason == "content_filter"
    assert choice.message.refusal and choice.message.content is None


def test_openai_streamed_refusal_arrives_in_refusal_deltas(simulator, gpt):
    simulator.script("refusal")
    chunks = list(ask_gpt(gpt, stream=True))
    refusal = "".join(c.choices[0].delta.refusal or "" for c in chunks if c.choices)
    assert refusal.startswith("I'm sorry") and chunks[-1].choices[0].finish_reason == "content_filter"


def test_openai_malformed_output_fails_the_response_format(simulator, gpt, invoice_schema, openai_invoice_format):
    simulator.script("malformed_output")
    response = ask_gpt(gpt, "Extract", response_format=openai_invoice_format)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(json.loads(response.choices[0].message.content), invoice_schema)


def test_openai_timeout_fault_trips_the_client_deadline(simulator, gpt):
    simulator.configure(stall_s=5.0)
    simulator.script("timeout")
    with pytest.raises(openai.APITimeoutError):
        gpt.with_options(timeout=0.5).chat.completions.create(model=GPT, messages=user("Hi"))

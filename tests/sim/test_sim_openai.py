"""The simulator as the official OpenAI SDK sees it: tool calls, structured output, streaming, usage."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pydantic
import pytest

MODEL = "gpt-4o-mini"


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def test_tool_forced_by_name_returns_valid_arguments_with_finish_reason_stop(gpt, openai_invoice_tool, invoice_schema):
    response = gpt.chat.completions.create(
        model=MODEL,
        messages=user("Invoice INV-9 from Globex"),
        tools=[openai_invoice_tool],
        tool_choice={"type": "function", "function": {"name": "extract_invoice"}},
    )
    choice = response.choices[0]
    [call] = choice.message.tool_calls

    assert call.id.startswith("call_") and call.function.name == "extract_invoice"
    jsonschema.validate(json.loads(call.function.arguments), invoice_schema)
    assert choice.message.content is None
    # what the real API does when the tool is forced by name
    assert choice.finish_reason == "stop"


def test_required_tool_choice_finishes_with_tool_calls(gpt, openai_invoice_tool):
    response = gpt.chat.completions.create(
        model=MODEL, messages=user("x"), tools=[openai_invoice_tool], tool_choice="required"
    )
    assert response.choices[0].finish_reason == "tool_calls"


def test_identical_requests_get_identical_arguments(gpt, openai_invoice_tool):
    def arguments() -> str:
        response = gpt.chat.completions.create(
            model=MODEL,
            messages=user("Invoice INV-9 from Globex"),
            tools=[openai_invoice_tool],
            tool_choice={"type": "function", "function": {"name": "extract_invoice"}},
        )
        return response.choices[0].message.tool_calls[0].function.arguments

    assert arguments() == arguments()


def test_json_schema_response_format_content_validates(gpt, invoice_schema, openai_invoice_format):
    response = gpt.chat.completions.create(
        model=MODEL, messages=user("Extract the invoice"), response_format=openai_invoice_format
    )
    jsonschema.validate(json.loads(response.choices[0].message.content), invoice_schema)
    assert response.choices[0].finish_reason == "stop"


def test_chat_completions_parse_fills_a_pydantic_model(gpt):
    class Receipt(pydantic.BaseModel):
        merchant: str
        total: float
        currency: str
        paid: bool

    response = gpt.chat.completions.parse(model=MODEL, messages=user("Receipt text"), response_format=Receipt)
    receipt = response.choices[0].message.parsed
    assert isinstance(receipt, Receipt) and len(receipt.currency) == 3


def test_json_object_response_format_returns_a_json_object(gpt):
    response = gpt.chat.completions.create(
        model=MODEL, messages=user("Give me JSON"), response_format={"type": "json_object"}
    )
    assert isinstance(json.loads(response.choices[0].message.content), dict)


def test_usage_has_prompt_completion_total_and_detail_fields(gpt):
    response = gpt.chat.completions.create(model=MODEL, messages=user("a" * 396))
    usage = response.usage
    assert usage.prompt_tokens == 100  # 396 characters + the role name, four per token
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens_details.cached_tokens == 0
    assert usage.completion_tokens_details.reasoning_tokens == 0
    assert response.id.startswith("chatcmpl-") and response.object == "chat.completion"


def test_long_repeated_prefix_reports_cached_tokens_within_prompt_tokens(gpt):
    system = {"role": "system", "content": "Policy text. " * 500}
    first = gpt.chat.completions.create(model=MODEL, messages=[system, *user("Question one")])
    second = gpt.chat.completions.create(model=MODEL, messages=[system, *user("Question two")])

    assert first.usage.prompt_tokens_details.cached_tokens == 0
    cached = second.usage.prompt_tokens_details.cached_tokens
    assert cached >= 1024 and (cached - 1024) % 128 == 0
    assert cached < second.usage.prompt_tokens


def test_streaming_with_include_usage_ends_with_a_usage_only_chunk(gpt):
    plain = gpt.chat.completions.create(model=MODEL, messages=user("Describe the memo"))
    chunks = list(
        gpt.chat.completions.create(
            model=MODEL, messages=user("Describe the memo"), stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

    assert text == plain.choices[0].message.content
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == plain.usage.completion_tokens
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks[:-1])
    assert len(chunks) >= 5


def test_streaming_without_include_usage_has_no_usage_chunk(gpt):
    chunks = list(gpt.chat.completions.create(model=MODEL, messages=user("Hi"), stream=True))
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)


def test_streamed_tool_call_arguments_assemble_to_the_same_json(gpt, openai_invoice_tool):
    params = {
        "model": MODEL,
        "messages": user("Invoice INV-9 from Globex"),
        "tools": [openai_invoice_tool],
        "tool_choice": {"type": "function", "function": {"name": "extract_invoice"}},
    }
    expected = gpt.chat.completions.create(**params).choices[0].message.tool_calls[0].function.arguments
    chunks = list(gpt.chat.completions.create(**params, stream=True))
    fragments = [c.choices[0].delta.tool_calls[0].function.arguments for c in chunks if c.choices[0].delta.tool_calls]

    assert chunks[0].choices[0].delta.tool_calls[0].function.name == "extract_invoice"
    assert len(fragments) >= 4
    assert "".join(fragments) == expected


def test_stream_helper_accumulates_a_final_completion(gpt, invoice_schema, openai_invoice_format):
    with gpt.chat.completions.stream(
        model=MODEL, messages=user("Extract"), response_format=openai_invoice_format
    ) as stream:
        final = stream.get_final_completion()
    jsonschema.validate(json.loads(final.choices[0].message.content), invoice_schema)


def test_max_completion_tokens_truncates_with_finish_reason_length(gpt):
    response = gpt.chat.completions.create(model=MODEL, messages=user("Tell a story"), max_completion_tokens=4)
    assert response.choices[0].finish_reason == "length"
    assert response.usage.completion_tokens == 4


@pytest.mark.parametrize(
    ("body", "code"),
    [({"messages": user("x")}, None), ({"model": MODEL}, "missing_required_parameter")],
)
def test_missing_model_or_messages_is_a_bad_request(simulator, body, code):
    response = simulator.http.post("/v1/chat/completions", json=body, headers={"authorization": "Bearer k"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


def test_missing_bearer_token_is_unauthorized(simulator):
    response = simulator.http.post("/v1/chat/completions", json={"model": MODEL, "messages": user("x")})
    assert response.status_code == 401 and response.json()["error"]["type"] == "invalid_request_error"


def test_response_carries_a_request_id_header(gpt):
    raw = gpt.chat.completions.with_raw_response.create(model=MODEL, messages=user("Hi"))
    assert raw.headers["x-request-id"].startswith("req_")
    assert raw.parse().choices[0].message.role == "assistant"

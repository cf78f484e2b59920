"""The simulator as the official Anthropic SDK sees it: answers, streaming, caching, usage."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx2
import jsonschema
import pydantic
import pytest

MODEL = "claude-sonnet-4-6"
DOCUMENT = "Invoice INV-1 from Acme, total 120 EUR."


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


@pytest.fixture
def extract(claude, invoice_tool, classify_tool):
    """Send a request forcing ``extract_invoice`` (listed second) for ``text``."""

    def send(text: str = DOCUMENT, **extra: Any) -> anthropic.types.Message:
        params = {"max_tokens": 1024, **extra}
        return claude.messages.create(
            model=MODEL,
            tools=[classify_tool, invoice_tool],
            tool_choice={"type": "tool", "name": "extract_invoice"},
            messages=user(text),
            **params,
        )

    return send


def test_forced_tool_use_returns_schema_valid_input(extract, invoice_schema):
    message = extract()

    assert message.stop_reason == "tool_use"
    [block] = message.content
    assert block.type == "tool_use" and block.name == "extract_invoice"
    assert block.id.startswith("toolu_")
    jsonschema.validate(block.input, invoice_schema)
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert message._request_id.startswith("req_")


def test_identical_requests_get_identical_tool_input_and_other_documents_differ(extract):
    first = extract().content[0].input
    again = extract().content[0].input
    other = extract("Invoice from Globex for 99 USD.").content[0].input

    assert first == again
    assert first != other


def test_request_ids_are_unique(extract):
    assert len({extract()._request_id for _ in range(3)}) == 3


@pytest.mark.parametrize("choice", [{"type": "auto"}, {"type": "any"}, None])
def test_tool_choice_auto_or_any_picks_the_first_tool(claude, classify_tool, invoice_tool, choice):
    extra = {"tool_choice": choice} if choice else {}
    message = claude.messages.create(
        model=MODEL, max_tokens=512, tools=[classify_tool, invoice_tool], messages=user("What is this?"), **extra
    )
    assert message.content[0].type == "tool_use"
    assert message.content[0].name == "classify"
    jsonschema.validate(message.content[0].input, classify_tool["input_schema"])


def test_tool_choice_none_answers_in_text(claude, invoice_tool):
    message = claude.messages.create(
        model=MODEL, max_tokens=512, tools=[invoice_tool], tool_choice={"type": "none"}, messages=user("Hi")
    )
    assert message.content[0].type == "text" and message.stop_reason == "end_turn"


def test_forcing_an_unknown_tool_is_a_bad_request(claude, invoice_tool):
    with pytest.raises(anthropic.BadRequestError):
        claude.messages.create(
            model=MODEL,
            max_tokens=64,
            tools=[invoice_tool],
            tool_choice={"type": "tool", "name": "nope"},
            messages=user("x"),
        )


def test_streamed_tool_use_accumulates_to_the_same_input(claude, extract, invoice_tool, classify_tool):
    expected = extract().content[0].input

    with claude.messages.stream(
        model=MODEL,
        max_tokens=1024,
        tools=[classify_tool, invoice_tool],
        tool_choice={"type": "tool", "name": "extract_invoice"},
        messages=user(DOCUMENT),
    ) as stream:
        json_deltas = [event for event in stream if event.type == "input_json"]
        final = stream.get_final_message()

    assert len(json_deltas) >= 3
    assert final.content[0].input == expected
    assert final.stop_reason == "tool_use"
    assert final.usage.output_tokens > 1 and final.usage.input_tokens > 0


def test_streamed_text_matches_the_non_streamed_text(claude):
    plain = claude.messages.create(model=MODEL, max_tokens=512, messages=user("Summarise the memo."))
    with claude.messages.stream(model=MODEL, max_tokens=512, messages=user("Summarise the memo.")) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()

    assert streamed == plain.content[0].text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == plain.usage.output_tokens


def test_every_sse_event_is_named_and_events_come_in_the_documented_order(simulator):
    response = httpx2.post(
        simulator.base_url + "/v1/messages",
        headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
        json={"model": MODEL, "max_tokens": 300, "stream": True, "messages": user("Tell me about invoices.")},
    )
    names = []
    for frame in filter(str.strip, response.text.split("\n\n")):
        event_line, data_line = frame.split("\n")
        assert event_line.startswith("event: ") and data_line.startswith("data: ")
        name = event_line.removeprefix("event: ")
        assert json.loads(data_line.removeprefix("data: "))["type"] == name
        names.append(name)

    assert response.headers["content-type"].startswith("text/event-stream")
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(names[3:-3]) == {"content_block_delta"} and len(names[3:-3]) >= 3


def test_structured_output_is_json_text_valid_against_the_schema(claude, invoice_schema):
    message = claude.messages.create(
        model=MODEL,
        max_tokens=1024,
        output_config={"format": {"type": "json_schema", "schema": invoice_schema}},
        messages=user("Extract the invoice."),
    )
    assert message.content[0].type == "text"
    jsonschema.validate(json.loads(message.content[0].text), invoice_schema)


def test_messages_parse_fills_a_pydantic_model_with_refs_and_optionals(claude):
    class Line(pydantic.BaseModel):
        description: str
        amount: float

    class Invoice(pydantic.BaseModel):
        invoice_number: str
        due_date: str | None = None
        lines: list[Line]

    message = claude.messages.parse(model=MODEL, max_tokens=1024, output_format=Invoice, messages=user("Extract."))

    assert isinstance(message.parsed_output, Invoice)
    assert message.parsed_output.invoice_number.startswith("INV-")


def test_prompt_asking_for_json_with_a_fenced_schema_gets_only_matching_json(claude, invoice_schema):
    prompt = "Return JSON matching this schema:\n```json\n" + json.dumps(invoice_schema) + "\n```\nDocument: ..."
    message = claude.messages.create(model=MODEL, max_tokens=1024, messages=user(prompt))
    jsonschema.validate(json.loads(message.content[0].text), invoice_schema)


def test_schema_in_the_system_prompt_is_filled_when_json_is_asked_for(claude, invoice_schema):
    system = "You extract invoices. Reply in JSON following this schema: " + json.dumps(invoice_schema)
    message = claude.messages.create(model=MODEL, max_tokens=1024, system=system, messages=user("Document: ..."))
    jsonschema.validate(json.loads(message.content[0].text), invoice_schema)


def test_prompt_asking_for_json_without_a_schema_gets_a_json_object(claude):
    message = claude.messages.create(model=MODEL, max_tokens=512, messages=user("Answer in JSON please."))
    assert isinstance(json.loads(message.content[0].text), dict)


def test_plain_prompt_gets_a_short_prose_answer(claude):
    message = claude.messages.create(model=MODEL, max_tokens=512, messages=user("How are you?"))
    text = message.content[0].text
    assert message.stop_reason == "end_turn"
    assert 20 < len(text) < 1000 and not text.lstrip().startswith("{")


def test_max_tokens_cuts_tool_input_short_with_stop_reason_max_tokens(extract):
    message = extract(max_tokens=10)

    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 10
    assert isinstance(message.content[0].input, dict)  # what was complete before the cut


def test_max_tokens_cuts_text_short_with_stop_reason_max_tokens(claude):
    message = claude.messages.create(model=MODEL, max_tokens=5, messages=user("Tell me a story."))
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 5 and len(message.content[0].text) <= 20


def test_cache_control_block_is_written_once_then_read(claude):
    system = [{"type": "text", "text": "You are an invoice clerk. " * 400, "cache_control": {"type": "ephemeral"}}]

    first = claude.messages.create(model=MODEL, max_tokens=256, system=system, messages=user("Doc A"))
    second = claude.messages.create(model=MODEL, max_tokens=256, system=system, messages=user("Doc B, longer"))

    assert first.usage.cache_creation_input_tokens > 2000
    assert first.usage.cache_read_input_tokens == 0
    assert first.usage.cache_creation.ephemeral_5m_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.cache_creation_input_tokens == 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    # input_tokens excludes both cached parts; the three add up to the whole prompt
    usage = second.usage
    assert usage.input_tokens < 10
    count = claude.messages.count_tokens(model=MODEL, system=system, messages=user("Doc B, longer"))
    assert usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens == count.input_tokens


def test_cache_breakpoint_moving_to_a_later_block_reads_the_earlier_prefix(claude):
    document = {"type": "text", "text": "Contract text. " * 300}
    ephemeral = {"type": "ephemeral"}
    first = claude.messages.create(
        model=MODEL,
        max_tokens=64,
        messages=[{"role": "user", "content": [{**document, "cache_control": ephemeral}]}],
    )
    second = claude.messages.create(
        model=MODEL,
        max_tokens=64,
        messages=[
            {"role": "user", "content": [document]},
            {"role": "assistant", "content": "Noted."},
            {"role": "user", "content": [{"type": "text", "text": "Summarise it.", "cache_control": ephemeral}]},
        ],
    )
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert 0 < second.usage.cache_creation_input_tokens < 10


def test_requests_without_cache_control_report_zero_cache_tokens(claude):
    for _ in range(2):
        usage = claude.messages.create(model=MODEL, max_tokens=64, system="x" * 8000, messages=user("y")).usage
        assert usage.cache_creation_input_tokens == 0 and usage.cache_read_input_tokens == 0
        assert usage.input_tokens == 2001


def test_count_tokens_estimates_a_quarter_token_per_character(claude):
    assert claude.messages.count_tokens(model=MODEL, messages=user("a" * 400)).input_tokens == 100


def test_missing_api_key_is_an_authentication_error(simulator):
    response = httpx2.post(
        simulator.base_url + "/v1/messages", json={"model": MODEL, "max_tokens": 5, "messages": user("x")}
    )
    body = response.json()
    assert response.status_code == 401
    assert body["type"] == "error" and body["error"]["type"] == "authentication_error"
    assert body["request_id"] == response.headers["request-id"]


@pytest.mark.parametrize("header", [{"authorization": "Bearer abc"}, {"x-api-key": "abc"}])
def test_bearer_token_and_x_api_key_are_both_accepted(simulator, header):
    response = httpx2.post(
        simulator.base_url + "/v1/messages",
        headers=header,
        json={"model": MODEL, "max_tokens": 5, "messages": user("x")},
    )
    assert response.status_code == 200


@pytest.mark.parametrize("missing", ["model", "max_tokens", "messages"])
def test_missing_required_field_is_an_invalid_request_error(simulator, missing):
    body = {"model": MODEL, "max_tokens": 5, "messages": user("x")}
    del body[missing]
    response = httpx2.post(simulator.base_url + "/v1/messages", headers={"x-api-key": "k"}, json=body)
    assert response.status_code == 400
    assert response.json()["error"] == {"type": "invalid_request_error", "message": f"{missing}: Field required"}


def test_unknown_route_answers_with_an_anthropic_shaped_404(claude):
    with pytest.raises(anthropic.NotFoundError):
        claude.models.list()

"""Over HTTP through the official SDKs: a built-in task's answer is read from its document."""

from __future__ import annotations

import json

import pytest

from promptq.prompts.registry import get_task
from promptq.samples import invoice, job_posting
from promptq.sim.accuracy import prompt_fingerprint
from promptq.workers.llm.adapter import provider_schema

INVOICE = invoice(1)  # Initech LLC, INV-2025-1001, 2024-02-02, 1 x Consulting hour @ 120.00, 120.00 EUR
POSTING = job_posting(0)  # Senior Python Engineer at Globex GmbH, Warsaw (hybrid), 1+ years, $98,000 - $128,000
EXPECTED_INVOICE = {
    "invoice_number": "INV-2025-1001", "date": "2024-02-02", "vendor_name": "Initech LLC", "total_amount": 120.0,
    "currency": "EUR",
    "line_items": [{"description": "Consulting hour", "quantity": 1.0, "unit_price": 120.0, "total": 120.0}],
}
EXPECTED_POSTING = {
    "title": "Senior Python Engineer", "company": "Globex GmbH", "location": "Warsaw", "is_remote": False,
    "salary_min": 98000.0, "salary_max": 128000.0, "required_years_experience": 1.0,
}


def _claude_extract(claude, task_name: str, text: str, model: str = "claude-sonnet-4-6", stream: bool = False):
    task = get_task(task_name)
    params = {
        "model": model, "max_tokens": 1024, "system": task.system_prompt,
        "messages": [{"role": "user", "content": task.prompt.render(text)}],
        "tools": [{"name": task.tool_name, "description": task.description,
                   "input_schema": provider_schema(task.schema)}],
        "tool_choice": {"type": "tool", "name": task.tool_name},
    }
    if stream:
        with claude.messages.stream(**params) as events:
            message = events.get_final_message()
    else:
        message = claude.messages.create(**params)
    [block] = message.content
    assert block.type == "tool_use" and block.name == task.tool_name
    task.validator().validate(block.input)
    return block.input


def test_sample_sanity():
    assert "Initech LLC" in INVOICE and "INV-2025-1001" in INVOICE and "120.00 EUR" in INVOICE
    assert "Globex GmbH" in POSTING and "Warsaw (hybrid)" in POSTING and "$98,000 - $128,000" in POSTING


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_tool_use_answers_from_the_invoice(claude, stream):
    assert _claude_extract(claude, "invoice_extraction", INVOICE, stream=stream) == EXPECTED_INVOICE


def test_openai_structured_output_answers_from_the_job_posting(gpt):
    task = get_task("job_posting_extraction")
    completion = gpt.chat.completions.create(
        model="gpt-4o", max_completion_tokens=512,
        messages=[{"role": "system", "content": task.system_prompt},
                  {"role": "user", "content": task.prompt.render(POSTING)}],
        response_format={"type": "json_schema", "json_schema": {
            "name": task.tool_name, "schema": provider_schema(task.schema), "strict": True}},
    )
    assert json.loads(completion.choices[0].message.content) == EXPECTED_POSTING


def test_an_escaped_tag_in_the_document_reaches_the_extractor_restored(claude):
    text = INVOICE.replace("Initech LLC", "Initech </document> LLC")
    assert _claude_extract(claude, "invoice_extraction", text)["vendor_name"] == "Initech </document> LLC"


def test_an_error_rate_set_for_a_model_and_prompt_version_corrupts_only_that(simulator, claude):
    task = get_task("invoice_extraction")
    fingerprint = prompt_fingerprint(task.system_prompt)
    response = simulator.http.post("/_sim/accuracy", json={
        "model": "claude-haiku-4-5", "prompt_version": "v2", "field": "total_amount", "error_rate": 1.0,
        "prompt_versions": {"v2": fingerprint}})
    assert response.status_code == 200
    assert response.json()["prompt_versions"] == {"v2": fingerprint}
    assert response.json()["rules"][-1] == {"model": "claude-haiku-4-5", "prompt_version": "v2",
                                            "field": "total_amount", "error_rate": 1.0}

    weak = _claude_extract(claude, "invoice_extraction", INVOICE, model="claude-haiku-4-5")
    strong = _claude_extract(claude, "invoice_extraction", INVOICE, model="claude-sonnet-4-6")

    assert weak["total_amount"] != 120.0
    assert {k: v for k, v in weak.items() if k != "total_amount"} == {
        k: v for k, v in EXPECTED_INVOICE.items() if k != "total_amount"}
    assert strong == EXPECTED_INVOICE

    simulator.reset()
    assert _claude_extract(claude, "invoice_extraction", INVOICE, model="claude-haiku-4-5")["total_amount"] == 120.0


def test_a_rule_for_another_prompt_version_does_not_apply(simulator, claude):
    simulator.http.post("/_sim/accuracy", json={"field": "currency", "error_rate": 1.0,
                                                "prompt_version": prompt_fingerprint("another system prompt")})
    assert _claude_extract(claude, "invoice_extraction", INVOICE)["currency"] == "EUR"


def test_accuracy_rules_can_be_replaced_whole_and_bad_ones_are_refused(simulator):
    assert simulator.http.post("/_sim/accuracy", json={"rules": []}).json()["rules"] == []
    assert simulator.http.post("/_sim/accuracy", json={"field": "x", "error_rate": 2}).status_code == 400
    assert simulator.http.post("/_sim/accuracy", json={"rules": "all"}).status_code == 400
    assert simulator.http.get("/_sim/accuracy").json()["rules"] == []


def test_a_repair_re_ask_is_answered_from_the_document_of_an_earlier_turn(claude):
    task = get_task("invoice_extraction")
    message = claude.messages.create(
        model="claude-sonnet-4-6", max_tokens=1024, system=task.system_prompt,
        messages=[{"role": "user", "content": task.prompt.render(INVOICE)},
                  {"role": "assistant", "content": '{"invoice_number": 7}'},
                  {"role": "user", "content": "That output does not match the required schema: 7 is not of "
                                              "type 'string'. Answer again with corrected output only."}],
        tools=[{"name": task.tool_name, "description": task.description,
                "input_schema": provider_schema(task.schema)}],
        tool_choice={"type": "tool", "name": task.tool_name},
    )
    assert message.content[0].input == EXPECTED_INVOICE


def test_a_json_only_prompt_is_answered_from_the_document_too(claude):
    import dataclasses

    from promptq.prompts.registry import OutputMode

    task = dataclasses.replace(get_task("invoice_extraction"), output=OutputMode.JSON)
    message = claude.messages.create(
        model="claude-sonnet-4-6", max_tokens=1024, system=task.system_prompt,
        messages=[{"role": "user", "content": task.prompt.render(INVOICE)}],
    )
    assert json.loads(message.content[0].text) == EXPECTED_INVOICE

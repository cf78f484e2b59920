"""Output structure: fences stripped, schema enforced, usage kept on failure."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from promptq.workers.llm.errors import FailureKind, ProviderFailure
from promptq.workers.llm.structured import extract, repair_turns, strip_fences
from promptq.workers.llm.types import CallResponse, StopKind, Usage

SCHEMA = {"type": "object", "required": ["title"], "additionalProperties": False,
          "properties": {"title": {"type": "string"}, "years": {"type": ["number", "null"]}}}
V = Draft202012Validator(SCHEMA)


def response(text: str = "", tool_input=None, stop=StopKind.COMPLETE) -> CallResponse:
    return CallResponse(model="m", stop=stop, usage=Usage(10, 5), tool_input=tool_input, text=text)


@pytest.mark.parametrize(("raw", "clean"), [
    ('```json\n{"a": 1}\n```', '{"a": 1}'),
    ('```\n{"a": 1}\n```', '{"a": 1}'),
    ('Here it is: {"a": 1} Hope that helps.', '{"a": 1}'),
    ('  {"a": 1}  ', '{"a": 1}'),
])
def test_strip_fences(raw, clean):
    assert strip_fences(raw) == clean


def test_tool_input_is_validated_and_returned():
    assert extract(response(tool_input={"title": "Engineer", "years": None}), V) == {
        "title": "Engineer", "years": None}


def test_fenced_json_text_is_parsed():
    assert extract(response('```json\n{"title": "x"}\n```'), V) == {"title": "x"}


@pytest.mark.parametrize("bad", [
    response(tool_input={"years": 3}),               # required field missing
    response(tool_input={"title": 7}),               # wrong type
    response(tool_input={"title": "x", "extra": 1}), # not in the schema
    response("not json at all"),
])
def test_invalid_output_raises_with_usage(bad):
    with pytest.raises(ProviderFailure) as err:
        extract(bad, V)
    assert err.value.kind is FailureKind.INVALID_OUTPUT
    assert err.value.usage == Usage(10, 5), "tokens spent on a bad answer are still billed"


def test_output_cut_by_max_tokens_is_its_own_failure():
    with pytest.raises(ProviderFailure) as err:
        extract(response('{"title": "x', stop=StopKind.MAX_TOKENS), V)
    assert err.value.kind is FailureKind.MAX_TOKENS


def test_repair_turns_show_the_model_its_answer_and_the_problem():
    assistant, user = repair_turns(response(tool_input={"years": 3}), "title: required")
    assert assistant.role == "assistant" and '"years": 3' in assistant.text
    assert user.role == "user" and "title: required" in user.text

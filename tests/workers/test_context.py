"""Context windows: what happens to an input that does not fit."""

from __future__ import annotations

from dataclasses import replace

import pytest

from promptq.prompts import framing
from promptq.prompts.registry import OutputMode, OverflowStrategy, get_task
from promptq.workers.context import (
    chunk_budget_chars, drop_oldest, fits, merge_outputs, plan_shrink, split_spans,
)
from promptq.workers.llm.types import CallRequest, Turn

TASK = get_task("invoice_extraction")


def split_text(text: str, max_chars: int) -> list[str]:
    """The pieces themselves."""
    return [text[start:end] for start, end in split_spans(text, max_chars)]


def task_with(strategy: OverflowStrategy):
    return replace(TASK, on_context_overflow=strategy)


def test_split_cuts_at_boundaries_and_loses_nothing():
    text = "\n\n".join(f"paragraph {i} " + "word " * 50 for i in range(40))
    pieces = split_text(text, 1000)
    assert all(len(p) <= 1000 for p in pieces) and len(pieces) > 1
    assert "".join(pieces).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(" ", "")
    assert all(p.startswith("paragraph") for p in pieces), "cut at paragraph starts"


def test_split_cuts_hard_when_there_is_no_boundary():
    assert split_text("x" * 2500, 1000) == ["x" * 1000, "x" * 1000, "x" * 500]


def test_split_spans_are_the_pieces_offsets_and_skip_the_whitespace_between():
    text = "alpha beta\n\n  gamma delta epsilon\n zeta"
    spans = split_spans(text, 12)
    assert [text[start:end] for start, end in spans] == ["alpha beta", "gamma delta", "epsilon", "zeta"]
    assert spans == [(0, 10), (14, 25), (26, 33), (35, 39)]


def test_merge_keeps_first_stated_scalars_and_concatenates_lists_without_repeats():
    a = {"invoice_number": "INV-1", "date": None, "line_items": [{"d": "a"}, {"d": "b"}]}
    b = {"invoice_number": "INV-9", "date": "2024-01-02", "line_items": [{"d": "b"}, {"d": "c"}]}
    assert merge_outputs([a, b]) == {"invoice_number": "INV-1", "date": "2024-01-02",
                                     "line_items": [{"d": "a"}, {"d": "b"}, {"d": "c"}]}


def test_drop_oldest_keeps_the_newest_messages_that_fit():
    msgs = [{"role": "user", "content": str(i) * 10} for i in range(5)]
    kept = drop_oldest(msgs, lambda ms: len(ms) <= 2)
    assert kept == msgs[-2:]
    assert drop_oldest(msgs, lambda ms: False) is None


@pytest.mark.parametrize(("strategy", "windows", "expect"), [
    (OverflowStrategy.SPLIT, [200_000, 128_000], "spans"),
    (OverflowStrategy.TRUNCATE, [200_000, 128_000], "text"),
    (OverflowStrategy.FALLBACK, [128_000, 1_000_000], "model_index"),
    # no larger window in the chain: fall back to truncating
    (OverflowStrategy.FALLBACK, [200_000, 128_000], "text"),
])
def test_plan_for_an_over_long_document_follows_the_task(strategy, windows, expect):
    text = "word " * (windows[0] * 2)
    plan = plan_shrink(task_with(strategy), windows, 0, text, None)
    assert [f for f in ("model_index", "spans", "text") if getattr(plan, f) is not None] == [expect]
    budget = chunk_budget_chars(TASK, windows[0])
    if expect == "spans":
        assert all(end - start <= budget for start, end in plan.spans) and len(plan.spans) >= 2
    if expect == "text":
        assert len(plan.text) <= budget
    if expect == "model_index":
        assert plan.model_index == 1


def test_a_conversation_always_loses_its_oldest_messages_first():
    msgs = [{"role": "user", "content": f"m{i} " + "x" * 300_000} for i in range(4)]
    plan = plan_shrink(task_with(OverflowStrategy.SPLIT), [200_000], 0, "ignored", msgs)
    assert plan.messages == msgs[-1:] and plan.text.startswith("user: m3")


def test_each_tightening_takes_thirty_percent_off():
    full = chunk_budget_chars(TASK, 200_000)
    assert chunk_budget_chars(TASK, 200_000, tightening=1) == pytest.approx(full * 0.7, abs=1)
    assert chunk_budget_chars(TASK, 200_000, tightening=2) == pytest.approx(full * 0.49, abs=1)


@pytest.mark.parametrize("output", [OutputMode.TOOL, OutputMode.JSON])
@pytest.mark.parametrize("name", ["invoice_extraction", "job_posting_extraction", "document_enrichment"])
def test_a_piece_of_the_budgets_size_fits_with_the_system_prompt_and_the_frame(name, output):
    task = replace(get_task(name), output=output)
    window = task.max_output_tokens + 2_000  # small: the margin cannot hide a missed part
    budget = chunk_budget_chars(task, window)
    assert budget > 0
    request = CallRequest(model=task.model, messages=(Turn("user", task.prompt.render("x" * budget)),),
                          schema=task.schema, tool_name=task.tool_name, tool_description=task.description,
                          output=task.output, max_tokens=task.max_output_tokens, system=task.system_prompt)
    assert fits(request, window)


def test_a_conversation_is_kept_to_what_fits_once_framed():
    msgs = [{"role": "user", "content": "x" * 10} for _ in range(1000)]  # framing triples each one
    budget = chunk_budget_chars(TASK, 8_000)
    plan = plan_shrink(TASK, [8_000], 0, "ignored", msgs)
    assert plan.messages and len(framing.conversation(plan.messages)) <= budget
    assert len(framing.conversation(msgs[-len(plan.messages) - 1:])) > budget

"""The golden datasets: enough items, each one valid for its task, covering the hard cases."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from promptq.prompts.registry import get_task

TASKS = ("invoice_extraction", "job_posting_extraction")
HARD_CASES = {
    "invoice_extraction": {"no_currency", "multi_currency", "missing_fields", "long", "eu_number_format"},
    "job_posting_extraction": {"missing_fields", "remote", "monthly_salary", "long", "distractor_years"},
}


def _rows(task: str) -> list[dict]:
    text = resources.files("promptq.prompts").joinpath("evals", f"{task}.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("task", TASKS)
def test_each_dataset_has_at_least_40_items_with_unique_ids(task):
    rows = _rows(task)
    assert len(rows) >= 40
    assert len({r["id"] for r in rows}) == len(rows)


@pytest.mark.parametrize("task", TASKS)
def test_every_item_has_text_and_a_schema_valid_expected_output(task):
    validator = get_task(task).validator()
    for row in _rows(task):
        assert set(row) == {"id", "input", "expected", "tags"}, row["id"]
        assert isinstance(row["input"]["text"], str) and row["input"]["text"].strip(), row["id"]
        assert list(validator.iter_errors(row["expected"])) == [], row["id"]
        assert row["tags"] and all(isinstance(t, str) for t in row["tags"]), row["id"]


@pytest.mark.parametrize("task", TASKS)
def test_the_tags_cover_the_hard_cases(task):
    rows = _rows(task)
    seen = {tag for r in rows for tag in r["tags"]}
    assert HARD_CASES[task] <= seen
    for tag in HARD_CASES[task]:
        assert sum(tag in r["tags"] for r in rows) >= 2, tag


@pytest.mark.parametrize("task", TASKS)
def test_long_items_need_splitting(task):
    long_rows = [r for r in _rows(task) if "long" in r["tags"]]
    assert long_rows and all(len(r["input"]["text"]) >= 30_000 for r in long_rows)
    assert all(len(r["input"]["text"]) <= 80_000 for r in long_rows)


def test_the_invoice_hard_cases_say_what_they_claim():
    for row in _rows("invoice_extraction"):
        text, expected = row["input"]["text"], row["expected"]
        if "no_currency" in row["tags"]:
            assert expected["currency"] == "USD"
            assert not any(mark in text for mark in ("USD", "$", "EUR", "€", "GBP", "£", "CHF", "CAD"))
        if "multi_currency" in row["tags"]:
            codes = {c for c in ("USD", "EUR", "GBP", "CHF", "CAD") if c in text}
            assert len(codes) >= 2 and expected["currency"] in codes
        if "missing_fields" in row["tags"]:
            assert any(i["quantity"] is None and i["unit_price"] is None for i in expected["line_items"])
        total = sum(i["total"] for i in expected["line_items"])
        assert expected["total_amount"] >= total - 0.01, row["id"]


def test_the_job_posting_nulls_are_not_stated_in_the_text():
    for row in _rows("job_posting_extraction"):
        text, expected = row["input"]["text"], row["expected"]
        if expected["salary_min"] is None and expected["salary_max"] is None:
            assert "$" not in text and "USD" not in text, row["id"]
        if expected["is_remote"]:
            assert expected["location"] is None and "remote" in text.lower()


def test_the_generator_reproduces_the_files():
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "prompts" / "evals" / "make_datasets.py"
    spec = importlib.util.spec_from_file_location("make_datasets", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for task in TASKS:
        assert module.build(task) == _rows(task)

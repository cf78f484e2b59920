"""Tasks are data: a prompt file with a header, a JSON Schema, an entry in tasks.toml."""

from __future__ import annotations

import pytest

from promptq.prompts.registry import all_tasks, get_task, parse_prompt_file, versions_of


def test_three_built_in_tasks_each_name_a_model_and_a_valid_schema():
    tasks = {t.name: t for t in all_tasks()}
    assert set(tasks) >= {"invoice_extraction", "job_posting_extraction", "document_enrichment"}
    for task in tasks.values():
        assert task.model and task.prompt.version == task.version == "v1"
        assert task.prompt.date and task.prompt.changed
        assert task.schema["type"] == "object"


def test_invoice_and_job_posting_fields_are_the_seed_articles():
    inv = get_task("invoice_extraction").schema["properties"]
    assert {"invoice_number", "date", "vendor_name", "total_amount", "currency", "line_items"} <= inv.keys()
    job = get_task("job_posting_extraction").schema["properties"]
    assert {"title", "company", "location", "is_remote", "salary_min", "salary_max",
            "required_years_experience"} <= job.keys()
    assert "null" in job["location"]["type"]


def test_render_puts_the_document_in_place_of_the_placeholder():
    rendered = get_task("invoice_extraction").prompt.render("INVOICE {with braces}")
    assert "INVOICE {with braces}" in rendered and "{text}" not in rendered


def test_versions_are_listed_from_the_package():
    assert versions_of("invoice_extraction")[0] == "v1"


@pytest.mark.parametrize(("raw", "problem"), [
    ("# version: v1\n# date: 2026-01-01\nBody {text}", "lacks changed"),
    ("# version: v2\n# date: 2026-01-01\n# changed: x\nBody {text}", "folder says v1"),
    ("# version: v1\n# date: 2026-01-01\n# changed: x\nBody without placeholder", "no {text}"),
])
def test_malformed_prompt_files_are_refused(raw, problem):
    with pytest.raises(ValueError, match=problem):
        parse_prompt_file(raw, expected_version="v1", where="x")

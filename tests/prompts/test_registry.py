"""Tasks are data: a prompt file with a header, a JSON Schema, an entry in tasks.toml."""

from __future__ import annotations

import pytest

from promptq.prompts import framing
from promptq.prompts.registry import all_tasks, get_task, load_task, parse_prompt_file, versions_of

HEADER = "# version: v1\n# date: 2026-12-08\n# changed: x\n"
SCHEMA = '{"type": "object", "properties": {"urgency": {"type": "string"}}}'


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


def test_render_puts_the_framed_document_in_place_of_the_placeholder():
    rendered = get_task("invoice_extraction").prompt.render("INVOICE {with braces}")
    assert "<document>\nINVOICE {with braces}\n</document>" in rendered and "{text}" not in rendered


@pytest.mark.parametrize("task", ["invoice_extraction", "job_posting_extraction", "document_enrichment"])
def test_built_in_tasks_keep_their_instructions_in_the_system_prompt(task):
    t = get_task(task)
    assert t.prompt.system.strip() and t.system_prompt.startswith(t.prompt.system.strip())
    assert "tool" in t.prompt.system and "tool" not in t.prompt.template
    assert t.prompt.date == "2026-12-08" and "2026-12-08" in t.prompt.changed


def _deployment(tmp_path, user: str, system: str | None = None, output: str = "json"):
    folder = tmp_path / "v1"
    folder.mkdir()
    (folder / "triage.txt").write_text(HEADER + user)
    (folder / "triage.schema.json").write_text(SCHEMA)
    if system is not None:
        (folder / "triage.system.txt").write_text(system)
    entry = {"model": "claude-haiku-4-5", "version": "v1", "output": output}
    return load_task("triage", entry, root=tmp_path)


@pytest.mark.parametrize("output", ["json", "tool"])
def test_an_old_single_file_prompt_still_loads_and_frames_its_document(tmp_path, output):
    task = _deployment(tmp_path, "Classify the ticket below.\n\nTicket:\n{text}", output=output)
    assert task.prompt.system == ""
    assert task.prompt.render("Refund!") == "Classify the ticket below.\n\nTicket:\n<document>\nRefund!\n</document>"
    assert task.system_prompt.startswith(framing.DATA_RULE)
    assert ("Return JSON only" in task.system_prompt) is (output == "json")


def test_a_system_file_beside_the_prompt_is_the_system_prompt(tmp_path):
    task = _deployment(tmp_path, "Ticket:\n{text}", HEADER + "Classify the ticket by urgency.\n")
    assert task.prompt.system == "Classify the ticket by urgency.\n"
    assert task.system_prompt.split("\n\n")[:2] == ["Classify the ticket by urgency.", framing.DATA_RULE]
    assert task.system_prompt.endswith("```")  # JSON-only: the schema closes it


@pytest.mark.parametrize(("system", "problem"), [
    (HEADER + "Classify {text} now.", "must not contain"),
    ("# version: v2\n# date: 2026-01-01\n# changed: x\nRules.", "folder says v1"),
    ("# version: v1\n# date: 2026-01-01\nRules.", "lacks changed"),
    (HEADER + "\n  \n", "empty"),
])
def test_malformed_system_files_are_refused(tmp_path, system, problem):
    with pytest.raises(ValueError, match=problem):
        _deployment(tmp_path, "Ticket:\n{text}", system)


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

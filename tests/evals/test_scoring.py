"""The scorers: which one the schema picks per field, and what each one gives."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from promptq.evals.scoring import (
    TASK_OVERRIDES,
    DateEqual,
    Exact,
    Fields,
    ListF1,
    Matches,
    Number,
    Text,
    TokenF1,
    normalise_text,
    plan,
    score,
    scorer_for,
    task_plan,
)


@pytest.mark.parametrize(("name", "schema", "kind"), [
    ("invoice_number", {"type": "string"}, Exact), ("order_id", {"type": "string"}, Exact),
    ("currency", {"type": "string"}, Exact), ("language", {"type": "string"}, Exact),
    ("ref", {"type": "string", "pattern": "^R-\\d+$"}, Exact),
    ("category", {"type": "string", "enum": ["a", "b"]}, Exact), ("is_remote", {"type": "boolean"}, Exact),
    ("date", {"type": "string"}, DateEqual), ("due_date", {"type": ["string", "null"]}, DateEqual),
    ("issued", {"type": "string", "format": "date"}, DateEqual),
    ("vendor_name", {"type": "string"}, Text), ("location", {"type": ["string", "null"]}, Text),
    ("total_amount", {"type": "number"}, Number), ("years", {"type": ["integer", "null"]}, Number),
    ("skills", {"type": "array", "items": {"type": "string"}}, ListF1),
    ("address", {"type": "object", "properties": {"city": {"type": "string"}}}, Fields),
])
def test_the_schema_picks_the_scorer(name, schema, kind):
    assert isinstance(scorer_for(name, schema), kind)


@pytest.mark.parametrize(("scorer", "expected", "actual", "value"), [
    (Exact(), "INV-1", "INV-1", 1.0), (Exact(), "INV-1", " INV-1 ", 1.0), (Exact(), "INV-1", "inv-1", 0.0),
    (Exact(), True, True, 1.0), (Exact(), True, 1, 0.0), (Exact(), False, None, 0.0),
    (Text(), "Müller & Söhne GmbH", "müller söhne gmbh", 1.0), (Text(), "Acme, Inc.", "ACME  Inc", 1.0),
    (Text(), "Acme Inc", "Acme Ltd", 0.0),
    (Number(), 100.0, 100.4, 1.0), (Number(), 100.0, 100.6, 0.0), (Number(), 0.0, 0.004, 1.0),
    (Number(), 5.0, True, 0.0), (Number(), 5.0, "5", 0.0), (Number(), 120000, 120000.0, 1.0),
    (DateEqual(), "2024-03-14", "2024-03-14", 1.0), (DateEqual(), "2024-03-14", "2024-03-14T10:00:00Z", 1.0),
    (DateEqual(), "2024-03-14", "14.03.2024", 0.0), (DateEqual(), "2024-03-14", "2024-03-15", 0.0),
    (TokenF1(), "the quick brown fox", "the quick fox", 6 / 7), (TokenF1(), "a b", "c d", 0.0),
])
def test_scalar_scorers(scorer, expected, actual, value):
    assert scorer(expected, actual) == pytest.approx(value)


@pytest.mark.parametrize("scorer", [Exact(), Text(), Number(), DateEqual(), TokenF1(), ListF1(), Fields({})])
@pytest.mark.parametrize(("expected", "actual", "value"), [(None, None, 1.0), (None, "x", 0.0), ("x", None, 0.0)])
def test_null_is_right_only_where_null_is_expected(scorer, expected, actual, value):
    if expected is not None and isinstance(scorer, Number):
        expected = 1.0
    assert scorer(expected, actual) == value


@pytest.mark.parametrize(("expected", "actual", "value"), [
    (["python", "sql"], ["Python", "SQL"], 1.0), (["python", "sql"], ["python"], 2 / 3),
    (["python", "sql"], ["python", "go", "rust"], 0.4), ([], [], 1.0), (["a"], [], 0.0), ([], ["a"], 0.0),
    (["a", "a"], ["a"], 2 / 3), (["a"], "a", 0.0),
])
def test_list_f1_over_strings(expected, actual, value):
    assert ListF1(Text())(expected, actual) == pytest.approx(value)


LINE_ITEMS = TASK_OVERRIDES["invoice_extraction"]["line_items"]


@pytest.mark.parametrize(("actual", "value"), [
    ([{"description": "Widget", "quantity": 2, "unit_price": 5, "total": 10.0},
      {"description": "Shipping", "quantity": None, "unit_price": None, "total": 4.0}], 1.0),
    ([{"description": "widget.", "quantity": None, "unit_price": None, "total": 10.001}], 2 / 3),
    ([{"description": "Widget", "quantity": 2, "unit_price": 5, "total": 11.0}], 0.0),
    ([{"description": "Shipping", "quantity": 1, "unit_price": 4, "total": 4.0},
      {"description": "Widget", "quantity": 2, "unit_price": 5, "total": 10.0},
      {"description": "Tax", "quantity": None, "unit_price": None, "total": 2.0}], 0.8),
])
def test_line_items_match_on_description_and_total(actual, value):
    expected = [{"description": "Widget", "quantity": 2, "unit_price": 5, "total": 10.0},
                {"description": "Shipping", "quantity": None, "unit_price": None, "total": 4.0}]
    assert LINE_ITEMS(expected, actual) == pytest.approx(value)


def test_objects_without_keys_match_on_every_field():
    matches = Matches({"a": Exact(), "b": Number()})
    assert matches({"a": "x", "b": 1.0}, {"a": "x", "b": 1.001}) == 1.0
    assert matches({"a": "x", "b": 1.0}, {"a": "x", "b": 2.0}) == 0.0


def _schema(task: str) -> dict:
    return json.loads(resources.files("promptq.prompts").joinpath("v1", f"{task}.schema.json").read_text())


def test_the_job_posting_plan_comes_from_its_schema():
    chosen = task_plan("job_posting_extraction", _schema("job_posting_extraction"))
    assert {k: type(v).__name__ for k, v in chosen.items()} == {
        "title": "Text", "company": "Text", "location": "Text", "is_remote": "Exact", "salary_min": "Number",
        "salary_max": "Number", "required_years_experience": "Number"}


def test_task_overrides_replace_the_schema_choice():
    schema = _schema("document_enrichment")
    assert isinstance(plan(schema)["summary"], Text)
    assert isinstance(task_plan("document_enrichment", schema)["summary"], TokenF1)
    assert isinstance(plan(schema, {"summary": Exact()})["summary"], Exact)


def test_score_gives_field_scores_and_their_mean():
    expected = {"title": "Data Analyst", "company": "Lumen", "location": None, "is_remote": True,
                "salary_min": None, "salary_max": 100000.0, "required_years_experience": 3.0}
    actual = {**expected, "company": "Lumen Analytics", "salary_max": 100400.0, "location": "Berlin"}
    result = score(expected, actual, task_plan("job_posting_extraction", _schema("job_posting_extraction")))
    assert result.fields == {"title": 1.0, "company": 0.0, "location": 0.0, "is_remote": 1.0, "salary_min": 1.0,
                             "salary_max": 1.0, "required_years_experience": 1.0}
    assert result.overall == pytest.approx(5 / 7)


@pytest.mark.parametrize("actual", [None, "not an object", [1, 2]])
def test_an_output_that_is_not_an_object_scores_zero(actual):
    result = score({"a": 1.0, "b": "x"}, actual, {"a": Number(), "b": Text()})
    assert result.fields == {"a": 0.0, "b": 0.0} and result.overall == 0.0


def test_a_missing_field_counts_as_null():
    assert score({"a": None, "b": "x"}, {}, {"a": Number(), "b": Text()}).fields == {"a": 1.0, "b": 0.0}


@pytest.mark.parametrize(("raw", "normal"), [("  Acme,  Inc. ", "acme inc"), ("ÉCOLE", "école"), ("Ｆｕｌｌ", "full")])
def test_normalise_text(raw, normal):
    assert normalise_text(raw) == normal

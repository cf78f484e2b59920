"""Field error rates: which rule applies, what a corrupted field looks like, and what an eval sees."""

from __future__ import annotations

import json
import random
from importlib import resources

import pytest
from jsonschema import Draft202012Validator

from promptq.evals.scoring import score, task_plan
from promptq.sim.accuracy import ANY, DEFAULT_RULES, ErrorRule, corrupt, degrade, prompt_fingerprint, rates_for
from promptq.sim.config import SimConfig
from promptq.sim.extract import EXTRACTORS

FP_V1, FP_V2 = prompt_fingerprint("system prompt v1"), prompt_fingerprint("system prompt v2")
RULES = (
    ErrorRule("total", 0.1),
    ErrorRule("total", 0.2, model="claude-haiku-4-5"),
    ErrorRule("total", 0.3, model="claude-haiku-4-5", prompt_version="v2"),
    ErrorRule(ANY, 0.05, model="gpt-4o-mini"),
    ErrorRule("vendor", 0.4, prompt_version=FP_V1),
)


@pytest.mark.parametrize(("model", "fingerprint", "rates"), [
    ("claude-sonnet-4-6", FP_V2, {"total": 0.1}),
    ("claude-haiku-4-5", FP_V1, {"total": 0.2, "vendor": 0.4}),
    ("claude-haiku-4-5", FP_V2, {"total": 0.3}),
    ("gpt-4o-mini", FP_V2, {"total": 0.1, ANY: 0.05}),
])
def test_the_most_specific_rule_wins_per_field(model, fingerprint, rates):
    assert rates_for(RULES, model, fingerprint, {"v2": FP_V2}) == rates


def test_a_later_rule_overrides_an_equally_specific_one():
    rules = (*RULES, ErrorRule("total", 1.0, model="claude-haiku-4-5"))
    assert rates_for(rules, "claude-haiku-4-5", FP_V1)["total"] == 1.0


def test_a_version_name_matches_only_through_its_fingerprint():
    assert "total" in rates_for(RULES, "claude-haiku-4-5", FP_V2, {"v2": FP_V2})
    assert rates_for(RULES, "claude-haiku-4-5", FP_V2, {})["total"] == 0.2


@pytest.mark.parametrize("rule", [
    {"field": "x", "error_rate": 1.5}, {"field": "", "error_rate": 0.1}, {"error_rate": 0.1},
    {"field": "x", "error_rate": 0.1, "colour": "red"}, ["x", 0.1],
])
def test_invalid_rules_are_refused(rule):
    with pytest.raises(ValueError):
        SimConfig(error_rates=[rule])


def test_config_reads_rules_from_the_environment():
    env = {"PROMPTQ_SIM_ERROR_RATES": '[{"model": "m", "field": "total", "error_rate": 0.5}]'}
    assert SimConfig.from_env(env).error_rates == (ErrorRule("total", 0.5, model="m"),)
    assert SimConfig.from_env({"PROMPTQ_SIM_ERROR_RATES": "none"}).error_rates == ()
    assert SimConfig.from_env({}).error_rates == DEFAULT_RULES


@pytest.mark.parametrize(("value", "schema", "name"), [
    (True, {"type": "boolean"}, "is_remote"), (120.0, {"type": "number"}, "total"), (3, {"type": "integer"}, "n"),
    (None, {"type": ["number", "null"]}, "salary_min"), (None, {"type": ["string", "null"]}, "location"),
    ("2024-03-14", {"type": "string", "format": "date"}, "date"), ("EUR", {"type": "string"}, "currency"),
    ("INV-2024-0042", {"type": "string"}, "invoice_number"), ("Lumen Analytics", {"type": "string"}, "company"),
    ("Acme", {"type": "string"}, "vendor"), ("news", {"type": "string", "enum": ["news", "other"]}, "category"),
    ([1, 2, 3], {"type": "array"}, "items"), (1.0, {"type": "number"}, "x"),
])
def test_a_corrupted_value_differs_and_keeps_its_type(value, schema, name):
    for seed in range(20):
        wrong = corrupt(value, schema, name, random.Random(seed))
        assert wrong != value
        Draft202012Validator(schema).validate(wrong)


def test_errors_are_deterministic_per_document_and_grow_with_the_rate():
    answer = {f"f{i}": f"value {i}" for i in range(200)}
    low = degrade(answer, {}, {ANY: 0.1}, "doc", seed=0)
    high = degrade(answer, {}, {ANY: 0.3}, "doc", seed=0)
    assert low == degrade(answer, {}, {ANY: 0.1}, "doc", seed=0)
    wrong_low = {k for k in answer if low[k] != answer[k]}
    wrong_high = {k for k in answer if high[k] != answer[k]}
    assert wrong_low < wrong_high and 5 < len(wrong_low) < 40 and 35 < len(wrong_high) < 85
    assert degrade(answer, {}, {ANY: 0.1}, "other doc", seed=0) != low
    assert degrade(answer, {}, {ANY: 0.1}, "doc", seed=1) != low
    assert degrade(answer, {}, {}, "doc", seed=0) == answer


def _dataset(task: str) -> list[dict]:
    text = resources.files("promptq.prompts").joinpath("evals", f"{task}.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _schema(task: str) -> dict:
    return json.loads(resources.files("promptq.prompts").joinpath("v1", f"{task}.schema.json").read_text())


def _eval(task: str, rates: dict[str, float]) -> tuple[float, dict[str, float]]:
    """What an offline eval measures: the extractor, degraded by ``rates``, scored against the golden set."""
    schema, plan = _schema(task), task_plan(task, _schema(task))
    _, extractor = EXTRACTORS[task]
    overall, fields = [], {}
    for row in _dataset(task):
        text = row["input"]["text"]
        result = score(row["expected"], degrade(extractor(text), schema, rates, text, seed=0), plan)
        overall.append(result.overall)
        for name, value in result.fields.items():
            fields.setdefault(name, []).append(value)
    return sum(overall) / len(overall), {k: sum(v) / len(v) for k, v in fields.items()}


@pytest.mark.parametrize(("task", "field"), [("invoice_extraction", "total_amount"),
                                             ("job_posting_extraction", "salary_max")])
def test_extractors_score_high_on_the_golden_sets_and_error_rates_show(task, field):
    perfect, perfect_fields = _eval(task, {})
    weaker, weaker_fields = _eval(task, {field: 0.5})
    broken, broken_fields = _eval(task, {field: 1.0})

    assert perfect >= 0.9
    assert all(value >= 0.8 for value in perfect_fields.values()), perfect_fields
    assert broken_fields[field] <= 0.1 < weaker_fields[field] < perfect_fields[field]
    assert broken < weaker < perfect
    others = {k: v for k, v in broken_fields.items() if k != field}
    assert others == {k: v for k, v in perfect_fields.items() if k != field}


def test_the_default_table_makes_small_models_measurably_weaker():
    strong, _ = _eval("job_posting_extraction", rates_for(DEFAULT_RULES, "claude-sonnet-4-6", FP_V1))
    weak, _ = _eval("job_posting_extraction", rates_for(DEFAULT_RULES, "claude-haiku-4-5", FP_V1))
    assert weak < strong


def test_the_command_line_takes_error_rates():
    from promptq.sim.__main__ import _parser

    args = _parser().parse_args(["--error-rates", '[{"field": "total_amount", "error_rate": 0.2}]'])
    assert args.error_rates == (ErrorRule("total_amount", 0.2),)
    assert _parser().parse_args(["--error-rates", "none"]).error_rates == ()

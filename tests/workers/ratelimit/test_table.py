"""The limit table: data with provenance, lookup with fallbacks, override by file."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from promptq.workers.ratelimit import BucketPolicy, LimitTable, Limits, load_limits
from promptq.workers.ratelimit.table import EXAMPLE_FILE

TABLE = LimitTable.from_dict({
    "limits": [
        {"provider": "anthropic", "requests_per_minute": 50},
        {"provider": "anthropic", "pool": "sonnet-4.x", "models": ["claude-sonnet-4-6", "claude-sonnet-4-5"],
         "requests_per_minute": 1000, "input_tokens_per_minute": 80_000, "output_tokens_per_minute": 16_000},
        {"provider": "openai", "models": ["gpt-4o"], "requests_per_minute": 500, "tokens_per_minute": 30_000},
    ],
})


def test_packaged_table_limits_nothing_up_front() -> None:
    table = load_limits()
    assert table.entries == ()
    assert table.for_model("anthropic", "claude-sonnet-4-6") == Limits()
    assert table.for_model("openai", "gpt-4o") == Limits()
    assert table.policy == BucketPolicy(target_fraction=0.97, burst_s=2.0)


def test_example_table_says_when_and_where_each_figure_comes_from() -> None:
    path = resources.files("promptq.workers.ratelimit").joinpath(EXAMPLE_FILE)
    table = load_limits(path)
    assert table.entries
    assert all(e.as_of is not None and e.source for e in table.entries)
    sonnet = table.for_model("anthropic", "claude-sonnet-4-6")
    assert sonnet.input_tokens_per_minute and sonnet.output_tokens_per_minute  # limited separately
    assert table.for_model("openai", "gpt-4o").tokens_per_minute
    assert table.policy == load_limits().policy


def test_listed_model_gets_its_entry() -> None:
    assert TABLE.for_model("anthropic", "claude-sonnet-4-5") == Limits(1000, 80_000, 16_000)


def test_unlisted_model_falls_back_to_the_provider_default_in_a_bucket_of_its_own() -> None:
    assert TABLE.for_model("anthropic", "claude-haiku-9") == Limits(requests_per_minute=50)
    assert TABLE.bucket_for("anthropic", "claude-haiku-9") == "claude-haiku-9"


def test_unknown_provider_is_unlimited() -> None:
    assert TABLE.for_model("openai", "gpt-9") == Limits()
    assert TABLE.for_model("mistral", "large") == Limits()


def test_models_of_a_pool_share_one_bucket() -> None:
    assert TABLE.bucket_for("anthropic", "claude-sonnet-4-6") == TABLE.bucket_for("anthropic", "claude-sonnet-4-5")


def test_a_file_replaces_the_table(tmp_path: Path) -> None:
    path = tmp_path / "bench.toml"
    path.write_text(
        '[policy]\nburst_s = 3.0\n\n'
        '[[limits]]\nprovider = "anthropic"\nmodels = ["claude-sonnet-4-6"]\nrequests_per_minute = 300\n'
        'as_of = 2026-11-28\nsource = "benchmark: the simulator enforces 300 rpm"\n'
    )
    table = load_limits(str(path))
    assert table.for_model("anthropic", "claude-sonnet-4-6") == Limits(requests_per_minute=300)
    assert table.for_model("anthropic", "claude-opus-4-6") == Limits()  # replaced, not merged
    assert table.policy == BucketPolicy(target_fraction=0.97, burst_s=3.0)


def test_the_environment_is_not_read_settings_passes_the_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTQ_RATE_LIMITS", "/nonexistent/limits.toml")
    assert load_limits().entries == ()


def test_a_file_entry_without_date_or_source_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "limits.toml"
    path.write_text('[[limits]]\nprovider = "openai"\nrequests_per_minute = 500\n')
    with pytest.raises(ValueError, match="as_of and source"):
        load_limits(path)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"limits": [{"provider": "x", "requests_per_minut": 5}]}, "unknown keys"),
        ({"limits": [{"provider": "x", "requests_per_minute": 0}]}, "positive integer"),
        ({"limits": [{"provider": "x", "models": ["a", "b"], "requests_per_minute": 5}]}, "pool"),
        ({"limits": [{"provider": "x"}, {"provider": "x"}]}, "two default"),
        ({"limits": [{"provider": "x", "models": ["a"]}, {"provider": "x", "models": ["a"]}]}, "listed twice"),
        ({"policy": {"target_fraction": 1.5}}, "target_fraction"),
        ({"limit": []}, "unknown top-level"),
    ],
)
def test_malformed_tables_are_refused(data: dict, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        LimitTable.from_dict(data)

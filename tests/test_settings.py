"""Configuration is typed, and refuses unsafe values."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from promptq.settings import DEV_API_KEY, Settings


def test_plain_postgresql_url_gets_the_psycopg_driver():
    assert Settings(database_url="postgresql://u@h/db").database_url == "postgresql+psycopg://u@h/db"
    assert Settings(database_url="postgres://u@h/db").database_url == "postgresql+psycopg://u@h/db"


def test_api_keys_parse_as_tenant_colon_key():
    s = Settings(api_keys="acme:0123456789abcdef0,globex:fedcba98765432100")
    assert s.tenant_keys() == {"0123456789abcdef0": "acme", "fedcba98765432100": "globex"}


@pytest.mark.parametrize("bad", ["nocolon", "acme:short", ":0123456789abcdef0"])
def test_malformed_api_keys_are_refused(bad):
    with pytest.raises(ValidationError):
        Settings(api_keys=bad)


def test_production_refuses_to_start_without_api_keys():
    with pytest.raises(ValidationError, match="PROMPTQ_API_KEYS"):
        Settings(env="production", api_keys="")


def test_the_development_key_is_never_a_stored_key_and_is_enabled_only_in_development_without_keys():
    dev = Settings(api_keys="")
    assert dev.tenant_keys() == {} and DEV_API_KEY not in dev.tenant_keys()
    assert dev.dev_key_enabled
    assert not Settings(api_keys="acme:0123456789abcdef0").dev_key_enabled
    assert not Settings(env="production", api_keys="acme:0123456789abcdef0").dev_key_enabled


@pytest.mark.parametrize("env", ["prod", "Production", "staging", "dev", ""])
def test_promptq_env_is_development_or_production_only(env):
    with pytest.raises(ValidationError, match="env"):
        Settings(env=env)


@pytest.mark.parametrize("var", ["ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL"])
def test_an_empty_provider_variable_counts_as_unset(monkeypatch, var):
    """docker-compose passes `${ANTHROPIC_BASE_URL:-}` as an empty string."""
    monkeypatch.setenv(var, "")
    settings = Settings()
    assert getattr(settings, var.lower()) is None
    assert not settings.has_provider_key and settings.uses_simulator


def test_api_keys_are_trusted_for_five_seconds_by_default_and_at_most_a_minute():
    assert Settings().api_key_cache_s == 5.0
    with pytest.raises(ValidationError, match="api_key_cache_s"):
        Settings(api_key_cache_s=61)


def test_rate_limit_leases_default_to_a_tenth_of_a_second_and_0_turns_them_off():
    assert Settings().rate_limit_lease_s == 0.1
    assert Settings(rate_limit_lease_s=0).rate_limit_lease_s == 0


@pytest.mark.parametrize("bad", [-0.1, 60])
def test_a_negative_or_minutes_long_lease_is_refused(bad):
    with pytest.raises(ValidationError, match="rate_limit_lease_s"):
        Settings(rate_limit_lease_s=bad)


def test_the_operations_guide_documents_every_setting():
    """Each PROMPTQ_* variable (or the provider variable it is read from) is in
    docs/operations.md's configuration table, so that a new setting cannot ship undocumented."""
    from pathlib import Path

    guide = (Path(__file__).resolve().parents[1] / "docs" / "operations.md").read_text()
    table = guide.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    for name, field in Settings.model_fields.items():
        names = getattr(field.validation_alias, "choices", None) or [f"PROMPTQ_{name.upper()}"]
        assert any(f"`{n}`" in table for n in names), f"{names[0]} is not in the configuration table"


def test_workers_keep_to_two_malloc_arenas_unless_told_otherwise():
    assert Settings().worker_malloc_arenas == 2
    assert Settings(worker_malloc_arenas=0).worker_malloc_arenas == 0  # glibc's default


def test_a_negative_arena_count_is_refused():
    with pytest.raises(ValidationError, match="worker_malloc_arenas"):
        Settings(worker_malloc_arenas=-1)


def test_workers_collect_garbage_less_often_and_switch_threads_less_often_than_cpython():
    settings = Settings()
    assert (settings.worker_gc_threshold, settings.worker_switch_interval_s) == (50_000, 0.05)
    off = Settings(worker_gc_threshold=0, worker_switch_interval_s=0)  # CPython's own values
    assert (off.worker_gc_threshold, off.worker_switch_interval_s) == (0, 0)


@pytest.mark.parametrize("field, value", [("worker_gc_threshold", -1), ("worker_switch_interval_s", -0.01),
                                          ("worker_switch_interval_s", 5)])
def test_a_negative_gc_threshold_or_an_out_of_range_switch_interval_is_refused(field, value):
    with pytest.raises(ValidationError, match=field):
        Settings(**{field: value})

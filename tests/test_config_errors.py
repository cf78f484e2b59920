"""A configuration error is one line naming the variable, never quoting a secret."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from promptq.config_errors import ConfigError, describe, env_name, require_worker_providers
from promptq.settings import Settings

KEYS = "acme:0123456789abcdef0"


def _error(**values) -> str:
    with pytest.raises(ValidationError) as caught:
        Settings(**values)
    return describe(caught.value)


@pytest.mark.parametrize("field, env", [
    ("env", "PROMPTQ_ENV"), ("worker_malloc_arenas", "PROMPTQ_WORKER_MALLOC_ARENAS"),
    ("anthropic_api_key", "ANTHROPIC_API_KEY"), ("openai_base_url", "OPENAI_BASE_URL"),
    ("rate_limits_file", "PROMPTQ_RATE_LIMITS"), ("flower_basic_auth", "FLOWER_BASIC_AUTH"),
    ("ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY"),  # pydantic reports alias fields by their alias
])
def test_a_field_is_named_by_its_environment_variable(field, env):
    assert env_name(field) == env


@pytest.mark.parametrize("values, expected", [
    ({"env": "prod"}, "PROMPTQ_ENV: Input should be 'development' or 'production' (got 'prod')"),
    ({"worker_malloc_arenas": -1}, "PROMPTQ_WORKER_MALLOC_ARENAS: Input should be greater than or equal to 0 (got '-1')"),
    ({"env": "production", "api_keys": ""}, "PROMPTQ_API_KEYS must be set when PROMPTQ_ENV=production"),
    ({"env": "prod", "worker_gc_threshold": -1},
     "PROMPTQ_ENV: Input should be 'development' or 'production' (got 'prod'); "
     "PROMPTQ_WORKER_GC_THRESHOLD: Input should be greater than or equal to 0 (got '-1')"),
])
def test_every_problem_on_one_line(values, expected):
    assert _error(**values) == expected


@pytest.mark.parametrize("values, secret", [
    ({"api_keys": "acme:tooshort-secret"}, "tooshort-secret"),
    ({"metrics_token": ["a-list-token-secret"]}, "a-list-token-secret"),
    ({"call_timeout_s": "x", "database_url": 5}, "5"),
])
def test_a_secret_value_is_never_echoed(values, secret):
    line = _error(**values)
    assert secret not in line.replace("PROMPTQ_", "")
    assert "\n" not in line


def test_a_production_worker_needs_a_provider_key():
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY, OPENAI_API_KEY"):
        require_worker_providers(Settings(env="production", api_keys=KEYS, anthropic_api_key=None,
                                          openai_api_key=None))
    require_worker_providers(Settings(env="production", api_keys=KEYS, openai_api_key="sk-x"))
    require_worker_providers(Settings(anthropic_api_key=None, openai_api_key=None))  # development: the simulator

"""Configuration errors at start: one line naming the variable, exit 2, no traceback.

Settings are validated by pydantic; its ValidationError (a multi-line report that
quotes the offending input) is converted here, once, into a ConfigError whose message
names the environment variable and what is wrong, and echoes the value only for
variables that cannot hold a secret.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

from pydantic import ValidationError

from promptq.settings import Settings, get_settings

PREFIX = "promptq: configuration error: "
# Fields whose value may be a secret (keys, tokens, URLs that can carry a password).
SECRET_FIELDS = frozenset({
    "api_keys", "database_url", "redis_url", "anthropic_api_key", "anthropic_base_url",
    "openai_api_key", "openai_base_url", "sim_url", "metrics_token", "flower_basic_auth",
})
_MAX_ECHO = 60


class ConfigError(Exception):
    """A configuration a process cannot start with; the message is one line without secrets."""


def env_name(field: str) -> str:
    """The environment variable of Settings field `field` (or of an alias it was read from)."""
    info = Settings.model_fields.get(field)
    if info is None:  # pydantic reported the alias itself (ANTHROPIC_API_KEY, …)
        return field
    choices = getattr(info.validation_alias, "choices", None)
    return str(choices[0]) if choices else f"PROMPTQ_{field.upper()}"


def _field_of(name: str) -> str:
    for field, info in Settings.model_fields.items():
        if name in (getattr(info.validation_alias, "choices", None) or ()):
            return field
    return name


def describe(error: ValidationError) -> str:
    """One line for every problem of `error`: `VARIABLE: what is wrong (got 'value')`."""
    parts: list[str] = []
    for problem in error.errors():
        msg = problem["msg"].removeprefix("Value error, ")
        if not problem["loc"]:  # a check across fields names its variables itself
            parts.append(msg)
            continue
        field = _field_of(str(problem["loc"][0]))
        parts.append(f"{env_name(field)}: {msg}{_echo(field, problem.get('input'))}")
    return "; ".join(" ".join(part.split()) for part in parts)


def _echo(field: str, value: Any) -> str:
    if field in SECRET_FIELDS or not isinstance(value, (str, int, float)):
        return ""
    text = str(value)  # as the environment spelt it
    return f" (got {text[:_MAX_ECHO]!r}{'…' if len(text) > _MAX_ECHO else ''})"


def load_settings() -> Settings:
    """The process's settings; raises ConfigError when the environment is invalid."""
    try:
        return get_settings()
    except ValidationError as exc:
        raise ConfigError(describe(exc)) from None


def require_worker_providers(settings: Settings) -> None:
    """Production workers call real providers only: without any provider key they would
    answer every job from the simulator, so they refuse to start."""
    if settings.env == "production" and not settings.has_provider_key:
        raise ConfigError("ANTHROPIC_API_KEY, OPENAI_API_KEY: a production worker needs at least one "
                          "provider key (the simulator serves development only)")


def exit_with(error: ConfigError) -> NoReturn:
    print(PREFIX + str(error), file=sys.stderr, flush=True)
    raise SystemExit(2)


def settings_or_exit() -> Settings:
    """The settings, or a one-line error on stderr and exit status 2."""
    try:
        return load_settings()
    except ConfigError as exc:
        exit_with(exc)

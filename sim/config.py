"""Simulator settings: latency, fault rates, rate limits."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .accuracy import DEFAULT_RULES, ErrorRule, parse_rules
from .faults import check_fault_name


def parse_fault_rates(spec: str) -> dict[str, float]:
    """Parse ``"overloaded=0.2,rate_limit=0.1"`` into ``{"overloaded": 0.2, "rate_limit": 0.1}``."""
    rates: dict[str, float] = {}
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"fault rate {item!r} is not NAME=PROBABILITY")
        rates[check_fault_name(name.strip())] = float(value)
    return rates


def parse_error_rules(spec: str) -> tuple[ErrorRule, ...]:
    """``PROMPTQ_SIM_ERROR_RATES``: a JSON list of rules, or ``none`` for an infallible model."""
    if spec.strip().lower() in ("none", "off", "0"):
        return ()
    value = json.loads(spec)
    if not isinstance(value, list):
        raise ValueError("error rates are a JSON list of {model, prompt_version, field, error_rate}")
    return parse_rules(value)


def _flag(value: Any) -> bool:
    """``True``/``False``, or a string such as ``"1"``, ``"true"``, ``"0"``, ``"off"``."""
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("", "0", "false", "no", "off"):
            return False
        raise ValueError(f"{value!r} is not a boolean")
    return bool(value)


@dataclass
class SimConfig:
    """Live settings of one simulator.

    Units: seconds for times, tokens for sizes, requests or tokens per minute for limits.
    """

    ttft_s: float = 0.0
    """Time to first token, seconds: the wait before the response headers."""
    tokens_per_s: float = 0.0
    """Output speed in tokens per second; 0 means the whole answer is instant."""
    fault_rates: dict[str, float] = field(default_factory=dict)
    """Fault name → probability per request (drawn once per request, seeded)."""
    rpm: int | None = None
    """Requests per minute per model; None = unlimited."""
    input_tpm: int | None = None
    """Input tokens per minute per model (Anthropic: excluding cache reads); None = unlimited."""
    output_tpm: int | None = None
    """Output tokens per minute per model; None = unlimited."""
    retry_after_s: float = 1.0
    """What an injected 429 advertises in ``retry-after``, seconds."""
    stall_s: float = 30.0
    """How long a ``timeout`` fault waits before answering, seconds."""
    context_window: int = 200_000
    """Largest prompt, tokens; longer prompts get a 400."""
    seed: int = 0
    """Seed of the random fault draw."""
    cache_min_tokens: int = 0
    """Shortest Anthropic prefix that can be cached, tokens (the real API: 1024 or more)."""
    request_log: bool = False
    """Keep a bounded log of provider requests (arrival and answer times) for ``GET /_sim/requests``."""
    error_rates: tuple[ErrorRule, ...] = DEFAULT_RULES
    """Field error rates of extracted answers, per model and prompt (:mod:`promptq.sim.accuracy`)."""
    prompt_versions: dict[str, str] = field(default_factory=dict)
    """Prompt version name → system prompt fingerprint, so rules can name versions."""

    def __post_init__(self) -> None:
        self.fault_rates = {check_fault_name(k): float(v) for k, v in dict(self.fault_rates).items()}
        for name, rate in self.fault_rates.items():
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"fault rate {name}={rate} is not a probability")
        if sum(self.fault_rates.values()) > 1.0 + 1e-9:
            raise ValueError("fault rates add up to more than 1")
        for name in ("ttft_s", "tokens_per_s", "retry_after_s", "stall_s"):
            value = float(getattr(self, name))
            if value < 0:
                raise ValueError(f"{name} must not be negative")
            setattr(self, name, value)
        for name in ("rpm", "input_tpm", "output_tpm"):
            value = getattr(self, name)
            if value is not None:
                value = int(value)
                if value <= 0:
                    raise ValueError(f"{name} must be positive or None")
                setattr(self, name, value)
        self.context_window = int(self.context_window)
        self.seed = int(self.seed)
        self.cache_min_tokens = int(self.cache_min_tokens)
        self.request_log = _flag(self.request_log)
        self.error_rates = parse_rules(self.error_rates)
        if not isinstance(self.prompt_versions, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in self.prompt_versions.items()):
            raise ValueError("prompt_versions maps version names to system prompt fingerprints")
        self.prompt_versions = dict(self.prompt_versions)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SimConfig:
        """Read ``PROMPTQ_SIM_*`` variables; unset ones keep the defaults."""
        env = os.environ if environ is None else environ
        kwargs: dict[str, Any] = {}
        readers: dict[str, tuple[str, Any]] = {
            "PROMPTQ_SIM_TTFT_S": ("ttft_s", float),
            "PROMPTQ_SIM_TOKENS_PER_S": ("tokens_per_s", float),
            "PROMPTQ_SIM_FAULTS": ("fault_rates", parse_fault_rates),
            "PROMPTQ_SIM_RPM": ("rpm", int),
            "PROMPTQ_SIM_INPUT_TPM": ("input_tpm", int),
            "PROMPTQ_SIM_OUTPUT_TPM": ("output_tpm", int),
            "PROMPTQ_SIM_SEED": ("seed", int),
            "PROMPTQ_SIM_RETRY_AFTER_S": ("retry_after_s", float),
            "PROMPTQ_SIM_STALL_S": ("stall_s", float),
            "PROMPTQ_SIM_CONTEXT_WINDOW": ("context_window", int),
            "PROMPTQ_SIM_REQUEST_LOG": ("request_log", _flag),
            "PROMPTQ_SIM_ERROR_RATES": ("error_rates", parse_error_rules),
        }
        for var, (name, convert) in readers.items():
            raw = env.get(var, "").strip()
            if raw:
                kwargs[name] = convert(raw)
        return cls(**kwargs)

    def updated(self, changes: Mapping[str, Any]) -> SimConfig:
        """A copy with ``changes`` applied (``fault_rates`` is replaced whole, not merged).

        Raises ``ValueError`` for unknown fields or invalid values.
        """
        known = {f.name for f in dataclasses.fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown config fields: {', '.join(sorted(unknown))}")
        values = dict(changes)
        if isinstance(values.get("fault_rates"), str):
            values["fault_rates"] = parse_fault_rates(values["fault_rates"])
        if isinstance(values.get("error_rates"), str):
            values["error_rates"] = parse_error_rules(values["error_rates"])
        try:
            return dataclasses.replace(self, **values)
        except (TypeError, AttributeError) as exc:
            raise ValueError(str(exc)) from exc

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["error_rates"] = [rule.to_dict() for rule in self.error_rates]
        return out

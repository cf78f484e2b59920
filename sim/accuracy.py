"""How often the simulated model gets a field wrong, per model and prompt version.

A rule ``{"model", "prompt_version", "field", "error_rate"}`` ("*" matches anything)
gives the probability that a field of an extracted answer is corrupted. For each
field the most specific matching rule wins (model and prompt named beat "*", a named
field beats "*"); among equally specific rules the last one wins, so a rule added
later overrides the defaults.

The prompt version is not on the wire, so the simulator knows a prompt by the
*fingerprint* of its system prompt (:func:`prompt_fingerprint`: the first 12 hex
digits of its SHA-256). A rule's ``prompt_version`` is "*", a fingerprint, or a name
given a fingerprint in ``prompt_versions`` (``{"v2": "<fingerprint>"}``), which is
how a caller that knows its prompts (an eval) labels them.

Errors are drawn from a RNG seeded by (document, field, seed): the same document
gets the same errors on every run, and a higher rate corrupts a superset of fields.
A corrupted value keeps the field's type, so the answer still validates.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

ANY = "*"
_CODES = ("USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "SEK")


@dataclass(frozen=True)
class ErrorRule:
    field: str
    error_rate: float
    """Probability in [0, 1] that the field is wrong."""
    model: str = ANY
    prompt_version: str = ANY

    def __post_init__(self) -> None:
        rate = float(self.error_rate)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"error_rate {rate} of field {self.field!r} is not a probability")
        for name in ("field", "model", "prompt_version"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"error rule: {name} must be a non-empty string")
        object.__setattr__(self, "error_rate", rate)

    @classmethod
    def parse(cls, value: Any) -> ErrorRule:
        if isinstance(value, ErrorRule):
            return value
        if not isinstance(value, Mapping):
            raise ValueError("an error rule is an object {model, prompt_version, field, error_rate}")
        unknown = set(value) - {"model", "prompt_version", "field", "error_rate"}
        if unknown or "field" not in value or "error_rate" not in value:
            raise ValueError("an error rule has field and error_rate, and optionally model and prompt_version")
        return cls(**dict(value))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Smaller models slip more often on the fields that need reading closely.
DEFAULT_RULES: tuple[ErrorRule, ...] = (
    ErrorRule("line_items", 0.05, model="claude-haiku-4-5"),
    ErrorRule("required_years_experience", 0.04, model="claude-haiku-4-5"),
    ErrorRule("salary_max", 0.03, model="claude-haiku-4-5"),
    ErrorRule("line_items", 0.06, model="gpt-4o-mini"),
    ErrorRule("vendor_name", 0.04, model="gpt-4o-mini"),
    ErrorRule("location", 0.04, model="gpt-4o-mini"),
    ErrorRule("category", 0.03, model="gpt-4o-mini"),
)


def parse_rules(values: Iterable[Any]) -> tuple[ErrorRule, ...]:
    return tuple(ErrorRule.parse(v) for v in values)


def prompt_fingerprint(system_text: str) -> str:
    """How the simulator tells prompts apart: the first 12 hex digits of the system prompt's SHA-256."""
    return hashlib.sha256(system_text.encode()).hexdigest()[:12]


def rates_for(rules: Iterable[ErrorRule], model: str, fingerprint: str,
              prompt_versions: Mapping[str, str] | None = None) -> dict[str, float]:
    """Field (or "*") → error rate for a request of ``model`` with a system prompt of ``fingerprint``."""
    names = prompt_versions or {}
    best: dict[str, tuple[int, float]] = {}
    for rule in rules:
        if rule.model not in (ANY, model):
            continue
        if rule.prompt_version != ANY and fingerprint not in (rule.prompt_version, names.get(rule.prompt_version)):
            continue
        rank = (rule.model != ANY) + (rule.prompt_version != ANY)
        if rule.field not in best or rank >= best[rule.field][0]:
            best[rule.field] = (rank, rule.error_rate)
    return {name: rate for name, (_, rate) in best.items()}


def _seed(document: str, field: str, seed: int) -> int:
    digest = hashlib.blake2b(f"{seed}\0{field}\0{document}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _allows(schema: Any, kind: str) -> bool:
    if not isinstance(schema, Mapping):
        return False
    kinds = schema.get("type")
    return kind in (kinds if isinstance(kinds, list) else [kinds])


def corrupt(value: Any, schema: Mapping[str, Any], name: str, rng: random.Random) -> Any:
    """A plausible wrong value of the same type as ``value`` (or a made-up one where null was right)."""
    options = [o for o in schema.get("enum") or () if o != value]
    if options:
        return rng.choice(options)
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        wrong = value * rng.choice((0.5, 0.9, 1.1, 1.25, 10.0)) if value else 1.0
        wrong = int(round(wrong)) if isinstance(value, int) else round(wrong, 2)
        return wrong if wrong != value else value + 1
    if value is None:
        if _allows(schema, "number") or _allows(schema, "integer"):
            return float(rng.randrange(1, 100) * 1000)
        return "Unknown" if _allows(schema, "string") else None
    if isinstance(value, list):
        if not value:
            return value
        dropped = list(value)
        del dropped[rng.randrange(len(dropped))]
        return dropped
    if isinstance(value, str):
        return _wrong_text(value, schema, name, rng)
    return value


def _wrong_text(value: str, schema: Mapping[str, Any], name: str, rng: random.Random) -> str:
    if schema.get("format") == "date" or name == "date" or name.endswith("_date"):
        try:
            return (dt.date.fromisoformat(value) + dt.timedelta(days=rng.randint(1, 40))).isoformat()
        except ValueError:
            pass
    if re.fullmatch(r"[A-Z]{3}", value):
        return rng.choice([c for c in _CODES if c != value])
    digits = [i for i, ch in enumerate(value) if ch.isdigit()]
    if digits:
        i = rng.choice(digits)
        return value[:i] + str((int(value[i]) + rng.randint(1, 9)) % 10) + value[i + 1:]
    words = value.split()
    if len(words) > 1:
        return " ".join(words[:-1])
    return value + "x" if value else "n/a"


def degrade(answer: Mapping[str, Any], schema: Any, rates: Mapping[str, float], document: str,
            seed: int) -> dict[str, Any]:
    """``answer`` with each field corrupted with probability ``rates[field]`` (else ``rates["*"]``)."""
    out = dict(answer)
    if not rates:
        return out
    props = schema.get("properties") or {} if isinstance(schema, Mapping) else {}
    for name in answer:
        rate = rates.get(name, rates.get(ANY, 0.0))
        if rate <= 0.0:
            continue
        rng = random.Random(_seed(document, name, seed))
        if rng.random() < rate:
            sub = props.get(name)
            out[name] = corrupt(answer[name], sub if isinstance(sub, Mapping) else {}, name, rng)
    return out

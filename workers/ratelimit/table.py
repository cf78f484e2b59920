"""The limit table: which limits apply to a provider's model, loaded from TOML data.

The packaged ``limits.toml`` limits nothing: the limiter learns each model's
limits from the providers' rate-limit headers (``limiter.py``). A deployment
that wants limits up front passes a file of its own (``Settings.rate_limits_file``,
env ``PROMPTQ_RATE_LIMITS``), which replaces the packaged one;
``limits.example.toml`` has the published Tier-1 figures in this shape::

    [policy]                      # optional; BucketPolicy's fields
    target_fraction = 0.97
    burst_s = 2.0

    [[limits]]                    # no `models`: the provider's default
    provider = "anthropic"
    requests_per_minute = 50
    as_of = 2026-11-28            # when the figures were read from `source`
    source = "…"

    [[limits]]                    # models that draw on one provider bucket
    provider = "anthropic"
    pool = "claude-sonnet-4.x"    # required when several models share it
    models = ["claude-sonnet-4-6", "claude-sonnet-4-5"]
    requests_per_minute = 50
    input_tokens_per_minute = 30_000
    output_tokens_per_minute = 8_000
    as_of = 2026-11-28
    source = "…"

Lookup: a listed model gets its entry (and shares its pool's bucket); another
model of a provider with a default gets the default in a bucket of its own
(providers limit per model); anything else is not configured, in a bucket of its
own so that cooldowns and learned limits still apply. A dimension an entry leaves
out is not configured either: the limiter may learn it.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any

from .limits import UNLIMITED, BucketPolicy, Limits

PACKAGED_FILE = "limits.toml"  # limits nothing: only the [policy]
EXAMPLE_FILE = "limits.example.toml"  # the published Tier-1 figures; never loaded by default
_LIMIT_FIELDS = {f.name for f in fields(Limits)}
_ENTRY_FIELDS = _LIMIT_FIELDS | {"provider", "pool", "models", "as_of", "source"}


@dataclass(frozen=True)
class LimitEntry:
    """One row of the table. ``models`` empty: the provider's default."""

    provider: str
    pool: str | None
    models: tuple[str, ...]
    limits: Limits
    as_of: dt.date | None
    source: str | None


class LimitTable:
    def __init__(self, entries: list[LimitEntry], policy: BucketPolicy | None = None) -> None:
        self.entries = tuple(entries)
        self.policy = policy or BucketPolicy()
        self._defaults: dict[str, LimitEntry] = {}
        self._models: dict[tuple[str, str], LimitEntry] = {}
        for entry in entries:
            if not entry.models:
                if entry.provider in self._defaults:
                    raise ValueError(f"two default entries for provider {entry.provider!r}")
                self._defaults[entry.provider] = entry
            for model in entry.models:
                if (entry.provider, model) in self._models:
                    raise ValueError(f"{entry.provider}/{model} is listed twice")
                self._models[entry.provider, model] = entry

    def for_model(self, provider: str, model: str) -> Limits:
        """The model's limits, else the provider's default, else unlimited."""
        entry = self._models.get((provider, model)) or self._defaults.get(provider)
        return entry.limits if entry else UNLIMITED

    def bucket_for(self, provider: str, model: str) -> str:
        """Name of the bucket the model draws on: its pool, or the model itself."""
        entry = self._models.get((provider, model))
        return entry.pool if entry and entry.pool else model

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LimitTable:
        """Build from the TOML document's shape (see the module docstring);
        ``as_of`` and ``source`` are optional here, required in files."""
        unknown = set(data) - {"policy", "limits"}
        if unknown:
            raise ValueError(f"unknown top-level keys in rate limits: {sorted(unknown)}")
        policy = BucketPolicy(**data.get("policy", {}))
        return cls([_entry(row) for row in data.get("limits", [])], policy)


def load_limits(path: str | os.PathLike[str] | None = None) -> LimitTable:
    """Load the table from ``path`` (the worker passes ``Settings.rate_limits_file``),
    else the packaged ``limits.toml``, which limits nothing. The environment is not
    read here: Settings reads it once. Every entry of a file must say ``as_of``
    (a date) and ``source``."""
    if not path:
        text = resources.files(__package__).joinpath(PACKAGED_FILE).read_text(encoding="utf-8")
        origin = PACKAGED_FILE
    else:
        text = Path(path).read_text(encoding="utf-8")
        origin = str(path)
    table = LimitTable.from_dict(tomllib.loads(text))
    for entry in table.entries:
        if entry.as_of is None or not entry.source:
            raise ValueError(f"{origin}: the entry for {entry.provider} {list(entry.models)} needs as_of and source")
    return table


def _entry(row: Mapping[str, Any]) -> LimitEntry:
    unknown = set(row) - _ENTRY_FIELDS
    if unknown:
        raise ValueError(f"unknown keys in rate limit entry: {sorted(unknown)}")
    models = tuple(row.get("models", ()))
    pool = row.get("pool")
    if len(models) > 1 and not pool:
        raise ValueError(f"entry for {row.get('provider')} {list(models)} shares a bucket: name it with `pool`")
    if pool and not models:
        raise ValueError(f"a provider default ({row.get('provider')}) has no pool")
    as_of = row.get("as_of")
    if isinstance(as_of, str):
        as_of = dt.date.fromisoformat(as_of)
    return LimitEntry(
        provider=row["provider"],
        pool=pool,
        models=models,
        limits=Limits(**{k: v for k, v in row.items() if k in _LIMIT_FIELDS}),
        as_of=as_of,
        source=row.get("source"),
    )

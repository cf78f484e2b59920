"""Cost of a call from the price table (workers/llm/prices.toml, USD per million tokens)."""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from promptq.workers.llm.types import Usage

log = logging.getLogger(__name__)
PER_MILLION = 1_000_000


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: float
    cache_write: float
    cache_read: float
    output: float
    checked: str
    source: str

    def cost_usd(self, usage: Usage) -> float:
        return (usage.input_tokens * self.input
                + usage.cache_creation_input_tokens * self.cache_write
                + usage.cache_read_input_tokens * self.cache_read
                + usage.output_tokens * self.output) / PER_MILLION


@lru_cache
def price_table() -> dict[str, Price]:
    raw = tomllib.loads(resources.files("promptq.workers.llm").joinpath("prices.toml")
                        .read_text(encoding="utf-8"))
    return {model: Price(**entry) for model, entry in raw["models"].items()}


_warned: set[str] = set()


def cost_usd(model: str, usage: Usage) -> float | None:
    """USD for `usage` on `model`; None (unknown, never zero) when the model has no price."""
    price = price_table().get(model)
    if price is None:
        if model not in _warned:
            _warned.add(model)
            log.warning("no price for model %r: its cost is recorded as unknown (null)", model)
        return None
    return round(price.cost_usd(usage), 8)

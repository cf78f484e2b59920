"""Which provider serves a model, and its limits (workers/llm/models.toml)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from promptq.workers.llm.types import Provider

DEFAULT_CONTEXT_WINDOW = 128_000  # tokens, for a model the table does not know


@dataclass(frozen=True)
class ModelInfo:
    name: str
    provider: Provider
    context_window: int  # tokens
    max_output: int      # tokens


class UnknownModel(LookupError):
    pass


@dataclass(frozen=True)
class ModelCatalog:
    models: dict[str, ModelInfo]
    prefixes: dict[str, Provider]

    @classmethod
    @lru_cache
    def load(cls) -> ModelCatalog:
        raw = tomllib.loads(resources.files("promptq.workers.llm").joinpath("models.toml")
                            .read_text(encoding="utf-8"))
        prefixes = {p: Provider(name) for name, entry in raw["providers"].items()
                    for p in entry["prefixes"]}
        models = {name: ModelInfo(name, Provider(e["provider"]), e["context_window"], e["max_output"])
                  for name, e in raw["models"].items()}
        return cls(models, prefixes)

    def info(self, model: str) -> ModelInfo:
        """Facts of a model; an unlisted one is placed by its name's prefix."""
        if model in self.models:
            return self.models[model]
        for prefix, provider in self.prefixes.items():
            if model.startswith(prefix):
                return ModelInfo(model, provider, DEFAULT_CONTEXT_WINDOW, 4096)
        raise UnknownModel(f"no provider known for model {model!r}")

"""One interface over the providers: resolve a model to its adapter and call it."""

from __future__ import annotations

import logging

from promptq.settings import Settings
from promptq.workers.llm.adapter import Adapter
from promptq.workers.llm.anthropic_adapter import AnthropicAdapter
from promptq.workers.llm.catalog import ModelCatalog
from promptq.workers.llm.errors import FailureKind, ProviderFailure
from promptq.workers.llm.openai_adapter import OpenAIAdapter
from promptq.workers.llm.types import CallRequest, CallResponse, OnDelta, Provider

log = logging.getLogger(__name__)

ADAPTERS: dict[Provider, type[AnthropicAdapter] | type[OpenAIAdapter]] = {
    Provider.ANTHROPIC: AnthropicAdapter,
    Provider.OPENAI: OpenAIAdapter,
}
SIM_KEY = "sim-key-not-secret"


def provider_endpoints(settings: Settings) -> dict[Provider, tuple[str, str | None]]:
    """(api key, base URL) of each configured provider.

    With no key at all every provider is the simulator; with some keys set, only
    those providers are configured, and models of the others fall back down their
    task's chain (NOT_CONFIGURED) instead of silently reaching a simulator. Production
    never uses the simulator: there, no key means no provider at all.
    """
    if settings.uses_simulator:
        root = settings.sim_url.rstrip("/")
        return {Provider.ANTHROPIC: (SIM_KEY, root), Provider.OPENAI: (SIM_KEY, root + "/v1")}
    found: dict[Provider, tuple[str, str | None]] = {}
    if settings.anthropic_api_key:
        found[Provider.ANTHROPIC] = (settings.anthropic_api_key, settings.anthropic_base_url)
    if settings.openai_api_key:
        found[Provider.OPENAI] = (settings.openai_api_key, settings.openai_base_url)
    return found


class LLMClient:
    def __init__(self, adapters: dict[Provider, Adapter], catalog: ModelCatalog) -> None:
        self._adapters = adapters
        self.catalog = catalog

    @classmethod
    def from_settings(cls, settings: Settings) -> LLMClient:
        adapters: dict[Provider, Adapter] = {
            provider: ADAPTERS[provider](api_key=key, base_url=url, timeout_s=settings.call_timeout_s,
                                         connect_timeout_s=settings.connect_timeout_s)
            for provider, (key, url) in provider_endpoints(settings).items()
        }
        return cls(adapters, ModelCatalog.load())

    def provider_of(self, model: str) -> Provider:
        return self.catalog.info(model).provider

    def is_configured(self, model: str) -> bool:
        return self.provider_of(model) in self._adapters

    def _adapter(self, model: str) -> Adapter:
        provider = self.provider_of(model)
        adapter = self._adapters.get(provider)
        if adapter is None:
            raise ProviderFailure(FailureKind.NOT_CONFIGURED, f"no credentials for {provider} (model {model})")
        return adapter

    def call(self, req: CallRequest, on_delta: OnDelta | None = None) -> CallResponse:
        return self._adapter(req.model).call(req, on_delta)

    def count_tokens(self, req: CallRequest) -> int | None:
        """The provider's count of the request's input tokens; None where it has no endpoint."""
        return self._adapter(req.model).count_tokens(req)

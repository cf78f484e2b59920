"""Which providers a worker calls: the simulator only when no key is set at all."""

from __future__ import annotations

from promptq.settings import Settings
from promptq.workers.llm.client import SIM_KEY, LLMClient, provider_endpoints
from promptq.workers.llm.types import Provider


def settings(**kw) -> Settings:
    base = {"anthropic_api_key": None, "openai_api_key": None, "anthropic_base_url": None,
            "openai_base_url": None, "sim_url": "http://127.0.0.1:9"}
    return Settings(**{**base, **kw})


def test_no_key_at_all_means_every_provider_is_the_simulator():
    assert provider_endpoints(settings()) == {
        Provider.ANTHROPIC: (SIM_KEY, "http://127.0.0.1:9"),
        Provider.OPENAI: (SIM_KEY, "http://127.0.0.1:9/v1"),
    }


def test_with_one_key_only_that_provider_is_configured_and_never_the_simulator():
    s = settings(anthropic_api_key="sk-test", anthropic_base_url="http://gateway:8080")
    assert provider_endpoints(s) == {Provider.ANTHROPIC: ("sk-test", "http://gateway:8080")}
    client = LLMClient.from_settings(s)
    assert client.is_configured("claude-sonnet-4-6")
    assert not client.is_configured("gpt-4o"), "its tasks fall back down their chain instead"


def test_models_resolve_to_providers_by_table_then_prefix():
    client = LLMClient.from_settings(settings())
    assert client.provider_of("claude-haiku-4-5") is Provider.ANTHROPIC
    assert client.provider_of("claude-future-9") is Provider.ANTHROPIC
    assert client.provider_of("gpt-4o-mini") is Provider.OPENAI


def test_production_never_calls_the_simulator():
    assert provider_endpoints(settings(env="production", api_keys="acme:0123456789abcdef0")) == {}
    client = LLMClient.from_settings(settings(env="production", api_keys="acme:0123456789abcdef0"))
    assert not client.is_configured("claude-sonnet-4-6") and not client.is_configured("gpt-4o")


def test_an_empty_base_url_is_the_sdk_default_not_an_empty_url():
    s = settings(openai_api_key="sk-test", openai_base_url="")
    assert provider_endpoints(s) == {Provider.OPENAI: ("sk-test", None)}

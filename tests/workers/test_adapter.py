"""The SDK clients behind the adapters: one per thread, each keeping one connection."""

from __future__ import annotations

import dataclasses
import threading

import pytest
import requests

from promptq.prompts.registry import OutputMode
from promptq.workers.llm.adapter import PerThread, pool_limits, shared_tls
from promptq.workers.llm.anthropic_adapter import AnthropicAdapter
from promptq.workers.llm.errors import ProviderFailure
from promptq.workers.llm.openai_adapter import OpenAIAdapter
from promptq.workers.llm.types import CallRequest, StopKind, Turn

SCHEMA = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"],
          "additionalProperties": False}


def test_a_thread_keeps_its_client_and_other_threads_get_their_own():
    made: list[object] = []
    clients = PerThread(lambda: made.append(object()) or made[-1])
    mine = clients.get()
    assert clients.get() is mine
    theirs: list[object] = []
    threads = [threading.Thread(target=lambda: theirs.append(clients.get())) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 4 and len({id(c) for c in [mine, *theirs]}) == 4


def test_every_client_shares_the_process_tls_context_and_keeps_one_connection():
    assert shared_tls() is shared_tls()
    assert pool_limits().max_keepalive_connections == 1


def _adapter(provider: str, sim: str) -> AnthropicAdapter | OpenAIAdapter:
    # A short timeout: a pool that leaked its connections would make a call wait for
    # one this long, then fail.
    if provider == "anthropic":
        return AnthropicAdapter(api_key="k", base_url=sim, timeout_s=3.0, connect_timeout_s=1.0)
    return OpenAIAdapter(api_key="k", base_url=sim + "/v1", timeout_s=3.0, connect_timeout_s=1.0)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize(("provider", "model"), [("anthropic", "claude-haiku-4-5"), ("openai", "gpt-4o-mini")])
def test_failed_calls_give_their_connection_back(sim, provider, model, stream):
    """More failures in a row than the thread's pool has connections, then a success:
    every failure (error status, broken stream) returned its connection."""
    faults = ["rate_limit", "overloaded", "server_error", "cut_stream", "truncated_stream", "stream_error"]
    if not stream:
        faults = faults[:4] + ["rate_limit", "server_error"]
    assert len(faults) > pool_limits().max_connections
    requests.post(f"{sim}/_sim/script", json={"faults": [*faults, "ok"]}, timeout=5).raise_for_status()
    adapter = _adapter(provider, sim)
    request = CallRequest(model=model, messages=(Turn("user", "Staff engineer at Acme, remote."),),
                          schema=SCHEMA, tool_name="posting", tool_description="a job posting",
                          output=OutputMode.TOOL, max_tokens=256, stream=stream)
    kinds = []
    for _ in faults:
        with pytest.raises(ProviderFailure) as failed:
            adapter.call(request)
        kinds.append(str(failed.value.kind))
    assert "timeout" not in kinds and "connection" not in kinds, kinds
    response = adapter.call(request)
    assert response.stop is StopKind.COMPLETE and (response.tool_input or response.text)


def _sent_bodies(sim: str) -> list[dict]:
    return [b["body"] for b in requests.get(f"{sim}/_sim/requests/bodies", timeout=5).json()["bodies"]]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize(("provider", "model"), [("anthropic", "claude-haiku-4-5"), ("openai", "gpt-4o-mini")])
def test_the_system_prompt_goes_on_the_wire_in_each_sdks_format(sim, provider, model, stream):
    requests.post(f"{sim}/_sim/config", json={"request_log": True}, timeout=5).raise_for_status()
    request = CallRequest(model=model, messages=(Turn("user", "<document>\nStaff engineer.\n</document>"),),
                          schema=SCHEMA, tool_name="posting", tool_description="a job posting",
                          output=OutputMode.TOOL, max_tokens=256, system="Extract the posting.",
                          stream=stream)
    assert _adapter(provider, sim).call(request).stop is StopKind.COMPLETE
    (body,) = _sent_bodies(sim)
    user = {"role": "user", "content": "<document>\nStaff engineer.\n</document>"}
    if provider == "anthropic":
        assert body["system"] == "Extract the posting." and body["messages"] == [user]
    else:
        assert "system" not in body
        assert body["messages"] == [{"role": "system", "content": "Extract the posting."}, user]


def test_anthropic_token_count_includes_the_system_prompt(sim):
    adapter = _adapter("anthropic", sim)
    request = CallRequest(model="claude-haiku-4-5", messages=(Turn("user", "doc"),), schema=SCHEMA,
                          tool_name="posting", tool_description="a job posting", output=OutputMode.TOOL,
                          max_tokens=256)
    bare = adapter.count_tokens(request)
    with_system = adapter.count_tokens(dataclasses.replace(request, system="Rules. " * 100))
    assert bare is not None and with_system is not None and with_system - bare >= 150

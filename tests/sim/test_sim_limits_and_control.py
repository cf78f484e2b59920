"""Rate limits with their headers, latency, the control plane, and the command line."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from typing import Any

import anthropic
import httpx2
import openai
import pytest

CLAUDE = "claude-sonnet-4-6"
GPT = "gpt-4o-mini"


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def test_rpm_limit_answers_429_once_the_bucket_is_empty(simulator, claude):
    simulator.configure(rpm=3)
    for _ in range(3):
        claude.messages.create(model=CLAUDE, max_tokens=16, messages=user("hi"))

    with pytest.raises(anthropic.RateLimitError) as caught:
        claude.messages.create(model=CLAUDE, max_tokens=16, messages=user("hi"))

    headers = caught.value.response.headers
    assert headers["anthropic-ratelimit-requests-remaining"] == "0"
    # one request refills in 60/3 = 20 s
    assert 15 <= int(headers["retry-after"]) <= 20
    assert 15_000 <= int(headers["retry-after-ms"]) <= 20_000
    assert "rate limit of 3 requests per minute" in caught.value.message
    assert simulator.stats()["rate_limited_by_buckets"] == 1


def test_limits_are_kept_per_model(simulator, claude):
    simulator.configure(rpm=1)
    claude.messages.create(model=CLAUDE, max_tokens=16, messages=user("hi"))
    claude.messages.create(model="claude-haiku-4-5", max_tokens=16, messages=user("hi"))
    with pytest.raises(anthropic.RateLimitError):
        claude.messages.create(model=CLAUDE, max_tokens=16, messages=user("hi"))


def test_input_token_limit_counts_prompt_tokens(simulator, claude):
    simulator.configure(input_tpm=1000)
    claude.messages.create(model=CLAUDE, max_tokens=16, messages=user("x" * 3200))  # 800 tokens
    with pytest.raises(anthropic.RateLimitError) as caught:
        claude.messages.create(model=CLAUDE, max_tokens=16, messages=user("x" * 3200))
    assert "input tokens per minute" in caught.value.message


def test_anthropic_rate_limit_headers_are_present_and_parse(simulator, claude):
    simulator.configure(rpm=100, input_tpm=50_000, output_tpm=10_000)

    raw = claude.messages.with_raw_response.create(model=CLAUDE, max_tokens=64, messages=user("hello"))
    headers = raw.headers
    message = raw.parse()

    assert headers["anthropic-ratelimit-requests-limit"] == "100"
    assert headers["anthropic-ratelimit-requests-remaining"] == "99"
    assert int(headers["anthropic-ratelimit-input-tokens-remaining"]) == 50_000 - message.usage.input_tokens
    assert int(headers["anthropic-ratelimit-output-tokens-remaining"]) == 10_000 - message.usage.output_tokens
    assert headers["anthropic-ratelimit-tokens-limit"] in ("50000", "10000")
    for dimension in ("requests", "input-tokens", "output-tokens", "tokens"):
        reset = dt.datetime.fromisoformat(headers[f"anthropic-ratelimit-{dimension}-reset"].replace("Z", "+00:00"))
        assert reset.tzinfo is not None
    assert raw.retries_taken == 0


def test_openai_rate_limit_headers_are_present_and_parse(simulator, gpt):
    simulator.configure(rpm=60, input_tpm=30_000)
    raw = gpt.chat.completions.with_raw_response.create(model=GPT, messages=user("hello"))
    headers = raw.headers

    assert headers["x-ratelimit-limit-requests"] == "60"
    assert headers["x-ratelimit-remaining-requests"] == "59"
    assert headers["x-ratelimit-limit-tokens"] == "30000"
    assert int(headers["x-ratelimit-remaining-tokens"]) < 30_000
    duration = re.compile(r"^(\d+m)?(\d+(\.\d+)?s)?$|^\d+ms$")
    assert duration.match(headers["x-ratelimit-reset-requests"])
    assert duration.match(headers["x-ratelimit-reset-tokens"])


def test_openai_bucket_exhaustion_raises_rate_limit_error(simulator, gpt):
    simulator.configure(rpm=1)
    gpt.chat.completions.create(model=GPT, messages=user("hi"))
    with pytest.raises(openai.RateLimitError) as caught:
        gpt.chat.completions.create(model=GPT, messages=user("hi"))
    assert caught.value.code == "rate_limit_exceeded" and caught.value.type == "requests"
    assert int(caught.value.response.headers["retry-after"]) == 60


def test_no_rate_limit_headers_without_limits(claude):
    raw = claude.messages.with_raw_response.create(model=CLAUDE, max_tokens=16, messages=user("hi"))
    assert not [name for name in raw.headers if name.startswith("anthropic-ratelimit")]


def test_with_raw_response_exposes_rate_limit_headers_on_an_injected_429(simulator, claude):
    simulator.configure(rpm=50)
    simulator.script("rate_limit")
    with pytest.raises(anthropic.RateLimitError) as caught:
        claude.messages.with_raw_response.create(model=CLAUDE, max_tokens=16, messages=user("hi"))
    headers = caught.value.response.headers
    assert headers["retry-after"] == "1" and "anthropic-ratelimit-requests-remaining" in headers


def test_stats_count_every_request_by_outcome_model_and_api(simulator, claude, gpt):
    simulator.script("overloaded")
    with pytest.raises(anthropic.OverloadedError):
        claude.messages.create(model=CLAUDE, max_tokens=16, messages=user("hi"))
    claude.messages.create(model=CLAUDE, max_tokens=16, messages=user("hi"))
    gpt.chat.completions.create(model=GPT, messages=user("hi"))
    httpx2.post(simulator.base_url + "/v1/messages", json={})  # no key: still counted
    claude.messages.count_tokens(model=CLAUDE, messages=user("hi"))  # not a generation request

    stats = simulator.stats()
    assert stats["requests"] == 4
    assert stats["by_outcome"] == {"overloaded": 1, "ok": 2, "auth": 1}
    assert stats["by_model"] == {CLAUDE: 2, GPT: 1, "(none)": 1}
    assert stats["by_api"] == {"anthropic": 3, "openai": 1}
    assert stats["count_tokens_requests"] == 1
    assert stats["usage"]["output_tokens"] > 0


def test_config_endpoint_updates_the_live_config_and_reset_restores_it(simulator, claude):
    updated = simulator.configure(fault_rates={"overloaded": 1.0})
    assert updated["fault_rates"] == {"overloaded": 1.0}
    with pytest.raises(anthropic.OverloadedError):
        claude.messages.create(model=CLAUDE, max_tokens=16, messages=user("hi"))

    simulator.reset()

    assert simulator.http.get("/_sim/config").json()["fault_rates"] == {}
    assert simulator.stats()["requests"] == 0
    claude.messages.create(model=CLAUDE, max_tokens=16, messages=user("hi"))


def test_config_endpoint_rejects_unknown_fields(simulator):
    response = simulator.http.post("/_sim/config", json={"ttft": 1})
    assert response.status_code == 400 and "ttft" in response.json()["error"]


def test_reset_forgets_the_script_and_marker_counts(simulator, claude):
    def ask() -> anthropic.types.Message:
        return claude.messages.create(model=CLAUDE, max_tokens=256, messages=user("doc [[sim:rate_limit]]"))

    with pytest.raises(anthropic.RateLimitError):
        ask()
    assert ask().stop_reason == "end_turn"  # the marker's one failure is used up
    simulator.script("overloaded", "overloaded")

    simulator.reset()

    assert simulator.stats()["scripted_faults_pending"] == 0
    with pytest.raises(anthropic.RateLimitError):
        ask()


def test_latency_settings_pace_streams_without_breaking_them(simulator, claude):
    simulator.configure(ttft_s=0.05, tokens_per_s=2000)
    with claude.messages.stream(model=CLAUDE, max_tokens=256, messages=user("hi")) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "end_turn"


def test_command_line_prints_the_listening_line_and_serves():
    process = subprocess.Popen(
        [sys.executable, "-m", "promptq.sim", "--port", "0", "--faults", "overloaded=1.0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline().strip()
        match = re.fullmatch(r"promptq simulator listening on (http://127\.0\.0\.1:\d+)", line)
        assert match, line
        response = httpx2.post(
            match.group(1) + "/v1/messages",
            headers={"x-api-key": "k"},
            json={"model": CLAUDE, "max_tokens": 8, "messages": user("hi")},
            timeout=10,
        )
        assert response.status_code == 529
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/messages", {"model": CLAUDE, "max_tokens": 8, "messages": user("x"), "output_config": "json"}),
        ("/v1/messages", {"model": CLAUDE, "max_tokens": 8, "messages": user("x"), "tools": "none"}),
        ("/v1/messages", {"model": CLAUDE, "max_tokens": 8, "messages": [{"role": "user", "content": 5}]}),
        ("/v1/chat/completions", {"model": GPT, "messages": user("x"), "response_format": "json"}),
        ("/v1/chat/completions", {"model": GPT, "messages": user("x"), "tools": {"a": 1}}),
    ],
)
def test_wrongly_typed_fields_are_counted_400s(simulator, path, body):
    response = simulator.http.post(path, json=body, headers={"x-api-key": "k", "authorization": "Bearer k"})
    assert response.status_code == 400
    assert simulator.stats()["by_outcome"] == {"bad_request": 1}


def test_an_idle_connection_outlives_the_sdks_own_keep_alive_expiry(simulator):
    """The SDKs' HTTP client drops an idle connection after 5 s; the simulator must keep
    it longer, as the providers' front ends do, or a request written to a connection it
    is just closing fails before it is counted (an accidental fault, not an injected one)."""
    import http.client
    import time
    from urllib.parse import urlsplit

    url = urlsplit(simulator.base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        conn.request("GET", "/_sim/stats")
        first = conn.getresponse()
        first.read()
        assert first.status == 200 and not first.will_close
        time.sleep(6.0)  # longer than httpx's keepalive_expiry
        conn.request("GET", "/_sim/stats")  # on the same socket: http.client does not reconnect silently
        second = conn.getresponse()
        assert second.status == 200 and second.read()
    finally:
        conn.close()

"""The request log (GET /_sim/requests) that the benchmarks read: off by default, bounded."""

from __future__ import annotations

import hashlib
import threading

from promptq.sim.config import SimConfig
from promptq.sim.state import RequestLog

CLAUDE = "claude-haiku-4-5"


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_off_by_default(simulator, claude):
    claude.messages.create(model=CLAUDE, max_tokens=16, messages=user("doc-id: a1\nhello"))
    log = simulator.http.get("/_sim/requests").json()
    assert log["enabled"] is False
    assert log["requests"] == [] and log["max_in_flight"] == 0


def test_records_times_key_and_doc_id(simulator, claude, gpt):
    simulator.configure(request_log=True, ttft_s=0.05)
    text = "Extract this.\ndoc-id: job-42\nSenior Python Engineer"
    claude.messages.create(model=CLAUDE, max_tokens=16, messages=user(text))
    gpt.chat.completions.create(model="gpt-4o-mini", messages=user("doc-id: 7 other"))
    claude.messages.count_tokens(model=CLAUDE, messages=user("not logged"))

    log = simulator.http.get("/_sim/requests").json()
    first, second = log["requests"]
    assert first["path"] == "/v1/messages" and first["status"] == 200
    assert first["doc_id"] == "job-42"
    assert first["key"] == hashlib.sha256(text.encode()).hexdigest()
    assert first["responded_at"] - first["received_at"] >= 0.05
    assert second["path"] == "/v1/chat/completions" and second["doc_id"] == "7"
    assert log["in_flight"] == 0 and log["max_in_flight"] == 1


def test_counts_requests_in_flight(simulator, claude):
    simulator.configure(request_log=True, ttft_s=0.3)
    threads = [threading.Thread(target=claude.messages.create,
                                kwargs={"model": CLAUDE, "max_tokens": 16, "messages": user(f"n{i}")})
               for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log = simulator.http.get("/_sim/requests").json()
    assert log["max_in_flight"] == 5 and log["in_flight"] == 0
    assert len(log["requests"]) == 5


def test_reset_forgets_the_log(simulator, claude):
    simulator.configure(request_log=True)
    claude.messages.create(model=CLAUDE, max_tokens=16, messages=user("x"))
    simulator.reset()
    log = simulator.http.get("/_sim/requests").json()
    assert log["requests"] == [] and log["max_in_flight"] == 0 and log["enabled"] is False


def test_the_log_is_bounded_and_the_flag_reads_from_the_environment():
    log = RequestLog(capacity=3)
    for i in range(5):
        log.closed(log.opened("/v1/messages"), b'{"messages": [{"role": "user", "content": "doc-id: %d"}]}' % i,
                   200, None)
    assert [e["doc_id"] for e in log.entries] == ["2", "3", "4"]
    assert log.in_flight == 0 and log.max_in_flight == 1
    assert SimConfig.from_env({"PROMPTQ_SIM_REQUEST_LOG": "1"}).request_log is True
    assert SimConfig.from_env({}).request_log is False


def test_keeps_the_last_bodies_with_their_system_prompt_on_both_wire_formats(simulator, claude, gpt):
    simulator.configure(request_log=True)
    claude.messages.create(model=CLAUDE, max_tokens=16, system="rules A", messages=user("doc A"))
    gpt.chat.completions.create(model="gpt-4o-mini",
                                messages=[{"role": "system", "content": "rules B"}, *user("doc B")])
    first, second = simulator.http.get("/_sim/requests/bodies").json()["bodies"]
    assert first["path"] == "/v1/messages" and first["body"]["system"] == "rules A"
    assert first["body"]["messages"] == user("doc A")
    assert second["path"] == "/v1/chat/completions"
    assert second["body"]["messages"][0] == {"role": "system", "content": "rules B"}
    simulator.reset()
    assert simulator.http.get("/_sim/requests/bodies").json()["bodies"] == []


def test_keeps_only_the_last_few_bodies():
    log = RequestLog()
    for i in range(RequestLog.BODIES + 3):
        log.closed(log.opened("/v1/messages"), f'{{"messages": [], "n": {i}}}'.encode(), 200, None)
    assert [b["body"]["n"] for b in log.recent_bodies()] == list(range(3, RequestLog.BODIES + 3))


def test_a_system_prompt_counts_as_input_tokens_on_both_wire_formats(simulator, claude, gpt):
    system = "Follow these rules. " * 50  # 1000 characters: 250 tokens at four a token
    bare = claude.messages.create(model=CLAUDE, max_tokens=16, messages=user("doc")).usage.input_tokens
    with_system = claude.messages.create(model=CLAUDE, max_tokens=16, system=system,
                                         messages=user("doc")).usage.input_tokens
    assert with_system - bare >= 250
    counted = claude.messages.count_tokens(model=CLAUDE, system=system, messages=user("doc")).input_tokens
    assert counted == with_system
    bare = gpt.chat.completions.create(model="gpt-4o-mini", messages=user("doc")).usage.prompt_tokens
    with_system = gpt.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "system", "content": system}, *user("doc")]).usage.prompt_tokens
    assert with_system - bare >= 250

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

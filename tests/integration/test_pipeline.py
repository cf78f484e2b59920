"""The job pipeline end to end: HTTP API → Redis → real Celery worker → simulator over
HTTP through the official SDKs → store → polling and signed webhooks. Runs once on
SQLite and once on PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
import requests
from jsonschema import Draft202012Validator
from sqlmodel import Session, select
from standardwebhooks.webhooks import Webhook

from promptq.prompts.registry import get_task
from promptq.store.models import Job, LedgerEntry, WebhookAttempt
from support import wait_until

pytestmark = pytest.mark.integration
TERMINAL = {"succeeded", "failed", "needs_review", "cancelled"}

INVOICE = """ACME Supplies Ltd — Invoice INV-2024-0042, issued 2024-03-15.
2 x Widget at 19.99 = 39.98; 1 x Service fee 10.00. Total due: 49.98 EUR."""
POSTING = """Senior Python Engineer at Globex (Berlin, hybrid). 5+ years of experience.
Salary 90,000-110,000 USD."""


def submit(stack, text: str = INVOICE, task: str = "invoice_extraction", tenant: str = "acme",
           **extra: Any) -> dict[str, Any]:
    body = {"task": task, "input": {"text": text}, "webhook_url": stack.receiver.url, **extra}
    r = stack.api.post("/v1/jobs", json=body, headers=stack.headers(tenant))
    assert r.status_code == 202, r.text
    return r.json()


def finished(stack, job_id: str, tenant: str = "acme", timeout_s: float = 60) -> dict[str, Any]:
    def poll() -> dict[str, Any] | None:
        job = stack.api.get(f"/v1/jobs/{job_id}", headers=stack.headers(tenant)).json()
        return job if job["status"] in TERMINAL else None
    return wait_until(poll, timeout_s=timeout_s, what=f"job {job_id} to finish")


def ledger(stack, job_id: str) -> list[LedgerEntry]:
    with Session(stack.engine) as s:
        return list(s.exec(select(LedgerEntry).where(LedgerEntry.job_id == job_id)
                           .order_by(LedgerEntry.attempt)))


def verified_events(stack, job_id: str, tenant: str = "acme") -> list[dict[str, Any]]:
    """Every webhook received for a job, each signature checked with the standardwebhooks library."""
    secret = stack.api.get("/v1/webhooks/secret", headers=stack.headers(tenant)).json()["secret"]
    hook = Webhook(secret)
    return [hook.verify(r.body, r.headers) for r in stack.receiver.for_object(job_id)]


def test_single_job_succeeds_with_schema_valid_result_cost_and_signed_webhook(stack, sim):
    job = finished(stack, submit(stack)["id"])
    assert job["status"] == "succeeded", job
    Draft202012Validator(get_task("invoice_extraction").schema).validate(job["result"])
    assert job["model"] == "claude-sonnet-4-6" and job["prompt_version"] == "v1"
    assert job["usage"]["input_tokens"] > 0 and job["usage"]["output_tokens"] > 0
    assert job["usage"]["cost_usd"] > 0
    assert job["attempts"] == 1 and job["started_at"] and job["finished_at"]
    rows = ledger(stack, job["id"])
    assert [(r.provider, r.model, r.outcome) for r in rows] == [("anthropic", "claude-sonnet-4-6", "ok")]
    assert rows[0].request_id and rows[0].cost_usd == pytest.approx(job["usage"]["cost_usd"])
    events = wait_until(lambda: verified_events(stack, job["id"]), what="the webhook")
    assert [e["type"] for e in events] == ["job.succeeded"]
    assert events[0]["data"]["result"] == job["result"]


def test_openai_task_goes_through_the_openai_sdk(stack, sim):
    job = finished(stack, submit(stack, "Quarterly report on widget sales in Spain.",
                                 task="document_enrichment")["id"])
    assert job["status"] == "succeeded", job
    assert job["model"] == "gpt-4o-mini"
    Draft202012Validator(get_task("document_enrichment").schema).validate(job["result"])
    assert [r.provider for r in ledger(stack, job["id"])] == ["openai"]


def test_batch_completes_with_counts_cost_and_one_batch_webhook(stack, sim):
    docs = [{"custom_id": f"post-{i}", "text": f"{POSTING} Ref {i}."} for i in range(20)]
    r = stack.api.post("/v1/batches", json={"task": "job_posting_extraction", "documents": docs,
                                            "webhook_url": stack.receiver.url},
                       headers=stack.headers())
    assert r.status_code == 202, r.text
    batch_id = r.json()["id"]
    assert r.json()["counts"]["total"] == 20

    def done() -> dict[str, Any] | None:
        b = stack.api.get(f"/v1/batches/{batch_id}", headers=stack.headers()).json()
        return b if b["status"] == "completed" else None

    batch = wait_until(done, timeout_s=90, what="the batch to complete")
    assert batch["counts"]["succeeded"] == 20 and batch["usage"]["cost_usd"] > 0
    page1 = stack.api.get(f"/v1/batches/{batch_id}/jobs?limit=15", headers=stack.headers()).json()
    page2 = stack.api.get(f"/v1/batches/{batch_id}/jobs?limit=15&after={page1['next_after']}",
                          headers=stack.headers()).json()
    ids = [j["custom_id"] for j in page1["data"] + page2["data"]]
    assert ids == [d["custom_id"] for d in docs] and page1["has_more"] and not page2["has_more"]
    validator = Draft202012Validator(get_task("job_posting_extraction").schema)
    for job in page1["data"] + page2["data"]:
        validator.validate(job["result"])

    secret = stack.api.get("/v1/webhooks/secret", headers=stack.headers()).json()["secret"]

    def batch_events() -> list[dict[str, Any]]:
        hook = Webhook(secret)
        out = []
        for rec in list(stack.receiver.deliveries):
            event = hook.verify(rec.body, rec.headers)
            if event["data"].get("batch_id") == batch_id or event["data"].get("id") == batch_id:
                out.append(event)
        return out if len(out) >= 21 else []

    events = wait_until(batch_events, timeout_s=30, what="21 webhooks")
    types = sorted(e["type"] for e in events)
    assert types.count("job.succeeded") == 20 and types.count("batch.completed") == 1


def test_a_single_job_does_not_wait_behind_a_batch_backlog(stack, sim):
    """Single jobs ride the `interactive` queue, batch documents the `batch` queue, and a
    worker takes from both in turn: a job submitted behind a backlog of batch documents
    runs in one of the next free slots, not after the batch."""
    requests.post(f"{sim}/_sim/config", json={"ttft_s": 0.25}, timeout=5).raise_for_status()
    docs = [{"text": f"{POSTING} Backlog {i}."} for i in range(240)]  # ≥ 3.75 s on 16 threads
    r = stack.api.post("/v1/batches", json={"task": "job_posting_extraction", "documents": docs},
                       headers=stack.headers())
    assert r.status_code == 202, r.text
    batch_id = r.json()["id"]

    def counts() -> dict[str, int]:
        return stack.api.get(f"/v1/batches/{batch_id}", headers=stack.headers()).json()["counts"]

    try:
        wait_until(lambda: counts()["running"] > 0, timeout_s=30, what="the batch to start")
        job = finished(stack, submit(stack, POSTING, task="job_posting_extraction")["id"])
        assert job["status"] == "succeeded"
        left = counts()
        assert left["queued"] + left["running"] >= 120, f"the single job waited for the batch: {left}"
    finally:
        stack.api.post(f"/v1/batches/{batch_id}/cancel", headers=stack.headers())


def test_a_batch_completes_even_when_its_countdown_on_redis_is_wrong(stack, sim):
    """The Redis countdown only says when to ask the store; with a wrong one (Redis
    flushed, the API died before setting it) the relay still completes the batch."""
    import redis

    from promptq import keys

    requests.post(f"{sim}/_sim/config", json={"ttft_s": 1.0}, timeout=5).raise_for_status()
    docs = [{"text": f"{POSTING} Ref {i}."} for i in range(3)]
    r = stack.api.post("/v1/batches", json={"task": "job_posting_extraction", "documents": docs,
                                            "webhook_url": stack.receiver.url}, headers=stack.headers())
    assert r.status_code == 202, r.text
    batch_id = r.json()["id"]
    client = redis.Redis.from_url(stack.settings.redis_url)
    countdown = keys.batch_open(stack.settings.redis_prefix, batch_id)
    assert wait_until(lambda: client.get(countdown), timeout_s=5, what="the countdown") == b"3"
    client.set(countdown, 1000)  # before any job finishes: the calls take 1 s

    def done() -> dict[str, Any] | None:
        b = stack.api.get(f"/v1/batches/{batch_id}", headers=stack.headers()).json()
        return b if b["status"] == "completed" else None

    batch = wait_until(done, timeout_s=60, what="the batch to complete")
    assert batch["counts"]["succeeded"] == 3
    assert int(client.get(countdown)) == 997  # each job counted down once; none saw zero
    wait_until(lambda: any(rec.body and b'"batch.completed"' in rec.body for rec in list(stack.receiver.deliveries)),
               timeout_s=30, what="the batch.completed webhook")


def test_idempotent_resubmission_returns_the_same_job(stack, sim):
    headers = stack.headers(**{"Idempotency-Key": "order-7781"})
    body = {"task": "invoice_extraction", "input": {"text": INVOICE}}
    first = stack.api.post("/v1/jobs", json=body, headers=headers)
    again = stack.api.post("/v1/jobs", json=body, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    other = stack.api.post("/v1/jobs", json={**body, "input": {"text": "different"}}, headers=headers)
    assert other.status_code == 409 and other.json()["error"]["type"] == "idempotency_conflict"


def test_another_tenants_objects_are_404(stack, sim):
    job = submit(stack)
    batch = stack.api.post("/v1/batches", json={"task": "invoice_extraction",
                                                "documents": [{"text": INVOICE}]},
                           headers=stack.headers()).json()
    for method, path in [("get", f"/v1/jobs/{job['id']}"), ("post", f"/v1/jobs/{job['id']}/cancel"),
                         ("get", f"/v1/jobs/{job['id']}/events"), ("get", f"/v1/batches/{batch['id']}"),
                         ("get", f"/v1/batches/{batch['id']}/jobs"),
                         ("post", f"/v1/batches/{batch['id']}/cancel")]:
        r = getattr(stack.api, method)(path, headers=stack.headers("globex"))
        assert r.status_code == 404, (path, r.status_code)
        assert r.json()["error"]["type"] == "not_found"
    finished(stack, job["id"])


def test_a_worker_at_info_writes_no_line_per_provider_call_or_per_task(stack, sim):
    job = finished(stack, submit(stack)["id"])
    assert job["status"] == "succeeded"
    log = stack.workers[-1].log()
    assert "ready." in log  # the log is the worker's, at INFO
    assert "HTTP Request:" not in log, "the SDK HTTP client's per-request lines are DEBUG only"
    assert job["id"] not in log, "Celery's per-task received/succeeded lines are DEBUG only"


def test_refusal_goes_to_review_with_a_webhook_a_metric_and_only_a_hash_in_the_log(stack, sim):
    text = INVOICE + " [[sim:refusal]]"
    job = finished(stack, submit(stack, text)["id"])
    assert job["status"] == "needs_review" and job["error"]["type"] == "refusal"
    assert job["attempts"] == 1, "a refusal is not retried blindly"
    events = wait_until(lambda: verified_events(stack, job["id"]), what="the webhook")
    assert [e["type"] for e in events] == ["job.needs_review"]
    log = stack.workers[-1].log()
    assert f"input sha256={hashlib.sha256(text.encode()).hexdigest()}" in log
    assert "ACME Supplies" not in log, "document text never reaches the logs"
    metrics = stack.api.get("/metrics", headers={"Authorization": "Bearer metrics-token-for-tests"})
    assert 'promptq_refusals_total{model="claude-sonnet-4-6",task="invoice_extraction"}' in metrics.text
    assert stack.api.get("/metrics", headers=stack.headers()).status_code == 401


def test_rate_limited_calls_are_retried_and_every_attempt_is_in_the_ledger(stack, sim):
    job = finished(stack, submit(stack, INVOICE + " [[sim:rate_limit:2]]")["id"])
    assert job["status"] == "succeeded", job
    assert [r.outcome for r in ledger(stack, job["id"])] == ["rate_limited", "rate_limited", "ok"]
    assert job["attempts"] == 3


@pytest.mark.parametrize(("task", "fault", "outcome"), [
    ("invoice_extraction", "cut_stream", "stream_cut"),            # Anthropic, streamed
    ("invoice_extraction", "truncated_stream", "stream_truncated"),
    ("invoice_extraction", "stream_error", "overloaded"),          # event: error inside the stream
    ("invoice_extraction", "overloaded", "overloaded"),
    ("invoice_extraction", "server_error", "server_error"),
    ("invoice_extraction", "timeout", "timeout"),
    ("job_posting_extraction", "cut_stream", "stream_cut"),        # Anthropic, not streamed
    ("document_enrichment", "cut_stream", "stream_cut"),           # OpenAI, streamed
    ("document_enrichment", "truncated_stream", "stream_truncated"),
    ("document_enrichment", "stream_error", "server_error"),       # OpenAI error event inside the stream
    ("document_enrichment", "rate_limit", "rate_limited"),
])
def test_transient_faults_are_retried_to_success(stack, sim, task, fault, outcome):
    job = finished(stack, submit(stack, f"{INVOICE} [[sim:{fault}:1]]", task=task)["id"])
    assert job["status"] == "succeeded", job
    assert [r.outcome for r in ledger(stack, job["id"])] == [outcome, "ok"]


def test_primary_that_stays_overloaded_falls_back_to_the_next_model(stack, sim):
    job = finished(stack, submit(stack, INVOICE + " [[sim:overloaded:2]]")["id"])
    assert job["status"] == "succeeded", job
    assert job["model"] == "gpt-4o", "the model that answered is on the job"
    assert [(r.model, r.outcome) for r in ledger(stack, job["id"])] == [
        ("claude-sonnet-4-6", "overloaded"), ("claude-sonnet-4-6", "overloaded"), ("gpt-4o", "ok")]


def test_invalid_output_is_repaired_by_one_re_ask(stack, sim):
    job = finished(stack, submit(stack, INVOICE + " [[sim:malformed_output:1]]")["id"])
    assert job["status"] == "succeeded", job
    assert [r.outcome for r in ledger(stack, job["id"])] == ["invalid_output", "ok"]


def test_output_still_invalid_after_repair_needs_review(stack, sim):
    requests.post(f"{sim}/_sim/config", json={"fault_rates": {"malformed_output": 1.0}},
                  timeout=5).raise_for_status()
    job = finished(stack, submit(stack)["id"])
    assert job["status"] == "needs_review" and job["error"]["type"] == "invalid_output"
    assert [r.outcome for r in ledger(stack, job["id"])] == ["invalid_output", "invalid_output"]


def test_bad_request_fails_fast_without_retry(stack, sim):
    job = finished(stack, submit(stack, INVOICE + " [[sim:bad_request:5]]")["id"])
    assert job["status"] == "failed" and job["error"]["type"] == "bad_request"
    assert job["attempts"] == 1


def test_failing_receiver_gets_retries_with_the_same_webhook_id(stack, sim):
    stack.receiver.fail_first = 2
    job = finished(stack, submit(stack)["id"])
    hits = wait_until(lambda: (h := stack.receiver.for_object(job["id"])) and len(h) >= 3 and h,
                      timeout_s=60, what="three delivery attempts")
    assert len({h.headers["webhook-id"] for h in hits}) == 1

    def recorded() -> list[WebhookAttempt]:  # a delivered attempt is written a moment later (group commit)
        with Session(stack.engine) as s:
            rows = list(s.exec(select(WebhookAttempt).where(
                WebhookAttempt.delivery_id == hits[0].headers["webhook-id"]).order_by(WebhookAttempt.attempt)))
        return rows if len(rows) >= 3 else []

    attempts = wait_until(recorded, timeout_s=5, what="three recorded attempts")
    assert [a.status_code for a in attempts] == [500, 500, 204]


def test_events_stream_status_changes_until_terminal(stack, sim):
    # The provider takes a moment, so the stream opens while the job runs: a stream
    # opened on a job already terminal is its final snapshot alone.
    requests.post(f"{sim}/_sim/config", json={"ttft_s": 0.5}, timeout=5).raise_for_status()
    job = submit(stack)
    with stack.api.stream("GET", f"/v1/jobs/{job['id']}/events", headers=stack.headers()) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = []
        for line in r.iter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line[5:]))
    assert events[0]["id"] == job["id"]
    assert any("delta" in e for e in events), "a streamed task sends token events"
    assert events[-1]["object"] == "job" and events[-1]["status"] == "succeeded"


def test_events_stream_ends_on_the_stores_terminal_state_when_its_last_event_is_lost(stack, monkeypatch):
    from promptq.store.models import Job, new_id, utcnow
    from promptq.store.status import JobStatus

    monkeypatch.setattr(stack.settings, "event_ping_s", 0.3)  # the API's own settings object
    job_id = new_id("job")  # running, with no message and no events: no worker will touch it
    with Session(stack.engine) as s:
        s.add(Job(id=job_id, tenant_id="acme", task="invoice_extraction", input_text=INVOICE,
                  status=JobStatus.RUNNING, started_at=utcnow()))
        s.commit()
    events = []
    with stack.api.stream("GET", f"/v1/jobs/{job_id}/events", headers=stack.headers()) as r:
        for line in r.iter_lines():
            if not line.startswith("data:"):
                continue
            events.append(json.loads(line[5:]))
            if len(events) == 1:  # the snapshot: now the job finishes without an event
                assert events[0]["status"] == "running"
                with Session(stack.engine) as s:
                    row = s.get(Job, job_id)
                    row.status, row.finished_at = JobStatus.SUCCEEDED, utcnow()
                    s.add(row)
                    s.commit()
    assert events[-1]["object"] == "job" and events[-1]["status"] == "succeeded"


def test_cancel_a_running_job_discards_its_late_result(stack, sim):
    requests.post(f"{sim}/_sim/config", json={"ttft_s": 3.0}, timeout=5).raise_for_status()
    job = submit(stack)
    wait_until(lambda: stack.api.get(f"/v1/jobs/{job['id']}", headers=stack.headers()).json()["status"]
               == "running", what="the job to start")
    r = stack.api.post(f"/v1/jobs/{job['id']}/cancel", headers=stack.headers())
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert stack.api.post(f"/v1/jobs/{job['id']}/cancel", headers=stack.headers()).status_code == 409
    # The call in flight still finishes and is billed, but its result is discarded.
    wait_until(lambda: len(ledger(stack, job["id"])) == 1, what="the late call to be recorded")
    final = stack.api.get(f"/v1/jobs/{job['id']}", headers=stack.headers()).json()
    assert final["status"] == "cancelled" and final["result"] is None
    events = wait_until(lambda: verified_events(stack, job["id"]), what="the webhook")
    assert [e["type"] for e in events] == ["job.cancelled"]


def test_document_over_the_context_window_is_split_and_the_extractions_merged(stack, sim):
    line = "Line item: Widget, quantity 2, unit price 19.99, total 39.98.\n"
    huge = INVOICE + "\n" + line * (900_000 // len(line))  # ≈ 225k tokens as counted > 200k
    job = finished(stack, submit(stack, huge)["id"])
    assert job["status"] == "succeeded", job
    assert [r.outcome for r in ledger(stack, job["id"])] == ["ok", "ok"], "one call per piece"
    Draft202012Validator(get_task("invoice_extraction").schema).validate(job["result"])
    assert job["input_truncated"] is False


def test_a_split_document_retried_after_a_fault_goes_on_from_the_piece_that_failed(stack, sim):
    line = "Line item: Widget, quantity 2, unit price 19.99, total 39.98.\n"
    # the marker sits in the second piece: the simulator answers its first request 500
    huge = INVOICE + "\n" + line * (900_000 // len(line)) + "[[sim:server_error:1]]"
    job = finished(stack, submit(stack, huge)["id"])
    assert job["status"] == "succeeded", job
    assert [r.outcome for r in ledger(stack, job["id"])] == ["ok", "server_error", "ok"], \
        "the retry asks for the second piece only: the first is not paid twice"
    assert job["attempts"] == 3
    Draft202012Validator(get_task("invoice_extraction").schema).validate(job["result"])
    with Session(stack.engine) as s:  # the pieces' extractions are not kept once the job is done
        assert s.get(Job, job["id"]).progress is None


def test_document_near_the_window_is_counted_by_the_provider_and_sent_whole(stack, sim):
    line = "Line item: Widget, quantity 2, unit price 19.99, total 39.98.\n"
    big = INVOICE + "\n" + line * (650_000 // len(line))  # over the window by our estimate, under by count
    job = finished(stack, submit(stack, big)["id"])
    assert job["status"] == "succeeded" and job["input_truncated"] is False
    assert [r.outcome for r in ledger(stack, job["id"])] == ["ok"], "one call: the count said it fits"


def test_document_over_the_window_of_a_truncating_task_is_shortened_and_says_so(stack, sim):
    huge = "A long report about widgets. " * 20_000  # ≈ 193k estimated tokens > gpt-4o-mini's 128k
    job = finished(stack, submit(stack, huge, task="document_enrichment")["id"])
    assert job["status"] == "succeeded", job
    assert job["input_truncated"] is True and len(ledger(stack, job["id"])) == 1


def test_conversation_input_drops_its_oldest_messages_to_fit(stack, sim):
    messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}: " + "blah " * 30_000}
                for i in range(5)]  # ≈ 250k estimated tokens in all
    r = stack.api.post("/v1/jobs", headers=stack.headers(),
                       json={"task": "document_enrichment", "input": {"messages": messages}})
    assert r.status_code == 202, r.text
    job = finished(stack, r.json()["id"])
    assert job["status"] == "succeeded" and job["input_truncated"] is True


def test_task_from_the_deployments_prompts_dir_uses_json_only_output(stack, sim):
    tasks = [t["name"] for t in stack.api.get("/v1/tasks", headers=stack.headers()).json()["data"]]
    assert "ticket_triage" in tasks and "invoice_extraction" in tasks
    job = finished(stack, submit(stack, "My invoice is wrong, please fix it today!", task="ticket_triage")["id"])
    assert job["status"] == "succeeded", job
    assert job["result"]["urgency"] in ("low", "normal", "high")
    assert [r.outcome for r in ledger(stack, job["id"])] == ["ok"]


def test_json_only_output_with_prose_or_broken_json_is_repaired(stack, sim):
    job = finished(stack, submit(stack, "Refund please. [[sim:malformed_output:1]]", task="ticket_triage")["id"])
    assert job["status"] == "succeeded", job
    assert 1 <= job["attempts"] <= 2

"""Every bad request gets a clear 4xx in the contract's error shape, and creates nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from promptq.store.models import Job

OK_JOB = {"task": "invoice_extraction", "input": {"text": "Invoice INV-1, total 10 USD"}}


def job_count(stack) -> int:
    with Session(stack.engine) as s:
        return s.exec(select(func.count()).select_from(Job)).one()


@pytest.mark.parametrize(("body", "status", "error_type"), [
    ({**OK_JOB, "task": "no_such_task"}, 422, "unknown_task"),
    ({**OK_JOB, "input": {"text": ""}}, 422, "invalid_request"),
    ({**OK_JOB, "input": {}}, 422, "invalid_request"),
    ({**OK_JOB, "input": {"text": "x", "messages": [{"role": "user", "content": "y"}]}}, 422, "invalid_request"),
    ({**OK_JOB, "input": {"messages": [{"role": "robot", "content": "y"}]}}, 422, "invalid_request"),
    ({**OK_JOB, "surprise": 1}, 422, "invalid_request"),
    ({**OK_JOB, "priority": "urgent"}, 422, "invalid_request"),
    ({**OK_JOB, "metadata": {str(i): i for i in range(33)}}, 422, "invalid_request"),
    ({**OK_JOB, "metadata": {"notes": "x" * 16_400}}, 422, "invalid_request"),
    ({**OK_JOB, "webhook_url": "ftp://example.com/hook"}, 422, "invalid_webhook_url"),
    ({**OK_JOB, "webhook_url": "http://169.254.169.254/latest"}, 422, "invalid_webhook_url"),
    ({**OK_JOB, "webhook_url": "http://10.0.0.7/hook"}, 422, "invalid_webhook_url"),
    ({"input": {"text": "x"}}, 422, "invalid_request"),
    ([1, 2, 3], 422, "invalid_request"),
])
def test_bad_job_requests_are_refused_and_create_nothing(stack, body, status, error_type):
    before = job_count(stack)
    r = stack.api.post("/v1/jobs", json=body, headers=stack.headers())
    assert r.status_code == status, r.text
    assert r.json()["error"]["type"] == error_type and r.json()["error"]["message"]
    assert job_count(stack) == before


def test_malformed_json_is_a_422(stack):
    r = stack.api.post("/v1/jobs", content=b"{not json", headers=stack.headers(**{"content-type": "application/json"}))
    assert r.status_code == 422 and r.json()["error"]["type"] == "invalid_request"


def test_document_over_the_size_limit_is_a_413(stack):
    big = "x" * (stack.settings.max_document_chars + 1)
    r = stack.api.post("/v1/jobs", json={**OK_JOB, "input": {"text": big}}, headers=stack.headers())
    assert r.status_code == 413 and r.json()["error"]["type"] == "payload_too_large"


@pytest.mark.parametrize(("headers", "message"), [
    ({}, "missing API key"),
    ({"Authorization": "Bearer not-a-key"}, "invalid API key"),
    ({"Authorization": "Basic dXNlcjpwdw=="}, "missing API key"),
])
def test_requests_without_a_valid_key_are_401(stack, headers, message):
    for method, path in [("post", "/v1/jobs"), ("get", "/v1/tasks"), ("get", "/v1/webhooks/secret"),
                         ("post", "/v1/webhooks/secret/rotate"), ("post", "/v1/batches"),
                         ("get", "/v1/jobs/job_x")]:
        r = getattr(stack.api, method)(path, headers=headers, **({"json": OK_JOB} if method == "post" else {}))
        assert r.status_code == 401, path
        assert message in r.json()["error"]["message"]
        assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("documents", "status"), [
    ([], 422),
    ([{"text": "a", "custom_id": "same"}, {"text": "b", "custom_id": "same"}], 422),
    ([{"text": ""}], 422),
    ([{"text": "x"}, {"text": "y", "metadata": {"notes": "x" * 16_400}}], 422),
    ([{"text": "x"}] * 10_001, 413),
])
def test_bad_batches_are_refused_and_create_nothing(stack, documents, status):
    before = job_count(stack)
    r = stack.api.post("/v1/batches", json={"task": "invoice_extraction", "documents": documents},
                       headers=stack.headers())
    assert r.status_code == status, r.text[:300]
    assert job_count(stack) == before


@pytest.mark.parametrize("query", ["limit=0", "limit=5000", "status=bogus"])
def test_bad_pagination_is_a_422(stack, query):
    batch = stack.api.post("/v1/batches", json={"task": "invoice_extraction", "documents": [{"text": "x"}]},
                           headers=stack.headers()).json()
    r = stack.api.get(f"/v1/batches/{batch['id']}/jobs?{query}", headers=stack.headers())
    assert r.status_code == 422


def test_unknown_ids_are_404(stack):
    for path in ("/v1/jobs/job_nope", "/v1/batches/batch_nope", "/v1/batches/batch_nope/jobs"):
        r = stack.api.get(path, headers=stack.headers())
        assert r.status_code == 404 and r.json()["error"]["type"] == "not_found"


def test_task_catalog_lists_the_tasks_with_schema_and_version(stack):
    tasks = {t["name"]: t for t in stack.api.get("/v1/tasks", headers=stack.headers()).json()["data"]}
    assert tasks["invoice_extraction"]["prompt_version"] == "v1"
    assert tasks["invoice_extraction"]["output_schema"]["type"] == "object"


def test_each_tenant_has_its_own_webhook_secret(stack):
    a = stack.api.get("/v1/webhooks/secret", headers=stack.headers("acme")).json()["secret"]
    b = stack.api.get("/v1/webhooks/secret", headers=stack.headers("globex")).json()["secret"]
    assert a.startswith("whsec_") and b.startswith("whsec_") and a != b


def test_health_and_readiness(stack):
    assert stack.api.get("/healthz").json() == {"status": "ok"}
    ready = stack.api.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "redis": "ok"}


def test_openapi_documents_every_v1_route(stack):
    paths = stack.api.get("/openapi.json").json()["paths"]
    for path in ("/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/events", "/v1/jobs/{job_id}/cancel",
                 "/v1/batches", "/v1/batches/{batch_id}", "/v1/batches/{batch_id}/jobs",
                 "/v1/batches/{batch_id}/cancel", "/v1/tasks", "/v1/webhooks/secret",
                 "/v1/webhooks/secret/rotate"):
        assert path in paths
    rotate = paths["/v1/webhooks/secret/rotate"]["post"]["responses"]
    assert {"200", "401", "404"} <= set(rotate)
    assert rotate["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/WebhookSecretRotated")


def test_rotating_the_webhook_secret_returns_a_new_one_and_keeps_the_previous_for_a_day(stack):
    from datetime import datetime, timedelta

    from promptq.store.deliveries import tenant_secrets

    # globex: no session test verifies globex's webhooks against a secret fetched earlier
    before = stack.api.get("/v1/webhooks/secret", headers=stack.headers("globex")).json()["secret"]
    r = stack.api.post("/v1/webhooks/secret/rotate", headers=stack.headers("globex"))
    assert r.status_code == 200, r.text
    rotated = r.json()
    assert rotated["object"] == "webhook_secret" and rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != before
    assert stack.api.get("/v1/webhooks/secret", headers=stack.headers("globex")).json()["secret"] == rotated["secret"]
    stored = tenant_secrets(stack.engine, "globex")
    assert (stored.current, stored.previous) == (rotated["secret"], before)
    until = datetime.fromisoformat(rotated["previous_valid_until"].replace("Z", "+00:00"))
    rotated_at = stored.rotated_at if stored.rotated_at.tzinfo else stored.rotated_at.replace(tzinfo=until.tzinfo)
    assert until - rotated_at == timedelta(hours=24)

"""When the job store cannot be reached, the API answers 503 with Retry-After — a
condition to retry, not a defect (500) — and serves again once the store is back."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from promptq.api.app import create_app
from promptq.settings import Settings
from support import bearer, postgres_database, set_database_reachable

OK_JOB = {"task": "invoice_extraction", "input": {"text": "Invoice INV-9, total 90 USD"}}


@pytest.fixture
def api_on_its_own_database(sim_url):
    with postgres_database() as url:
        with TestClient(create_app(Settings(database_url=url))) as api:
            yield api, url.rsplit("/", 1)[1]
        set_database_reachable(url.rsplit("/", 1)[1], True)  # so that it can be dropped


def test_an_unreachable_store_is_a_503_to_retry_and_the_api_recovers(api_on_its_own_database):
    api, database = api_on_its_own_database
    headers = bearer()
    job = api.post("/v1/jobs", json=OK_JOB, headers=headers)
    assert job.status_code == 202, job.text

    spec = api.get("/openapi.json").json()
    set_database_reachable(database, False)
    for method, path, documented, body in [
            ("POST", "/v1/jobs", "/v1/jobs", OK_JOB),
            ("GET", f"/v1/jobs/{job.json()['id']}", "/v1/jobs/{job_id}", None),
            ("POST", "/v1/batches", "/v1/batches", {"task": OK_JOB["task"], "documents": [OK_JOB["input"]]})]:
        r = api.request(method, path, json=body, headers=headers)
        assert r.status_code == 503, (method, path, r.text)
        assert r.json()["error"]["type"] == "unavailable"
        assert int(r.headers["retry-after"]) > 0
        assert "503" in spec["paths"][documented][method.lower()]["responses"]
    assert api.get("/readyz").json()["checks"]["database"] == "unreachable"

    set_database_reachable(database, True)
    again = api.get(f"/v1/jobs/{job.json()['id']}", headers=headers)
    assert again.status_code == 200 and again.json()["id"] == job.json()["id"]
    assert api.post("/v1/jobs", json=OK_JOB, headers=headers).status_code == 202


def test_an_unreachable_redis_is_a_503_where_redis_is_needed_and_submissions_still_land(database_url, sim_url):
    from promptq.launch import free_port

    settings = Settings(database_url=database_url, redis_url=f"redis://127.0.0.1:{free_port()}/0",
                        metrics_token="metrics-token-for-tests")
    headers = bearer()
    with TestClient(create_app(settings)) as api:
        r = api.get("/metrics", headers={"Authorization": "Bearer metrics-token-for-tests"})
        assert r.status_code == 503 and r.json()["error"]["type"] == "unavailable"
        assert r.headers["retry-after"]
        # the store is the record: the job is kept, and the relay publishes it once Redis is back
        job = api.post("/v1/jobs", json=OK_JOB, headers=headers)
        assert job.status_code == 202, job.text
        assert api.get(f"/v1/jobs/{job.json()['id']}", headers=headers).json()["status"] == "queued"
        api.post(f"/v1/jobs/{job.json()['id']}/cancel", headers=headers)  # no stray work for other tests

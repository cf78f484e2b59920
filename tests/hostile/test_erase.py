"""Data control: DELETE /v1/jobs/{id} erases a finished job's input, messages, result,
metadata, error message, webhook payloads and live events, and keeps the ledger; a job
not finished answers 409, another tenant's 404. PROMPTQ_RETENTION_DAYS erases the same
of jobs finished longer ago, and of no other."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace

import pytest
import redis
from sqlalchemy import select, update
from sqlmodel import Session

from promptq import keys
from promptq.launch import forget_redis_prefix
from promptq.settings import Settings
from promptq.store import clock, deliveries, erase
from promptq.store.engine import engine_for
from promptq.store.models import Job, LedgerEntry, WebhookDelivery
from promptq.store.status import DeliveryStatus, JobStatus
from promptq.workers import relay
from support import REDIS_URL, fresh_database, queued_jobs, wait_until

SECRET = "Initech LLC invoice INV-77 for Peter Gibbons, 2024-05-01, total 120.00 USD."
ERASED = {"input_text": "", "input_messages": None, "result": None, "metadata_": None,
          "error_message": None, "progress": None}


def job(engine, job_id: str) -> Job:
    with Session(engine, expire_on_commit=False) as s:
        found = s.get(Job, job_id)
        assert found is not None
        return found


def deliveries_of(engine, job_id: str) -> list[WebhookDelivery]:
    with Session(engine, expire_on_commit=False) as s:
        return list(s.scalars(select(WebhookDelivery).where(WebhookDelivery.object_id == job_id)))


def test_delete_erases_a_finished_job_everywhere_and_keeps_its_ledger(stack, sim) -> None:
    body = {"task": "invoice_extraction", "input": {"messages": [{"role": "user", "content": SECRET}]},
            "metadata": {"customer": "Peter Gibbons"}, "webhook_url": stack.receiver.url}
    job_id = stack.api.post("/v1/jobs", json=body, headers=stack.headers()).json()["id"]
    done = wait_until(lambda: (j := stack.api.get(f"/v1/jobs/{job_id}", headers=stack.headers()).json())
                      ["status"] == "succeeded" and j, what="the job to succeed")
    assert done["result"] and done["erased_at"] is None
    wait_until(lambda: stack.receiver.for_object(job_id), what="its webhook")
    events = keys.job_events(stack.settings.redis_prefix, job_id)
    client = redis.Redis.from_url(REDIS_URL)
    wait_until(lambda: client.exists(events), what="its live events")
    # a later webhook, parked (not due for an hour): it holds the job object too
    with Session(stack.engine) as s:
        [parked] = deliveries.enqueue(s, [("acme", stack.receiver.url, "job.succeeded", done)])
        s.execute(update(WebhookDelivery).where(WebhookDelivery.id == parked.id)
                  .values(dispatched_at=None, next_attempt_at=clock.now(stack.engine) + timedelta(hours=1)))
        s.commit()
    hooks = deliveries_of(stack.engine, job_id)
    assert len(hooks) == 2 and all("Peter Gibbons" in d.payload for d in hooks)

    r = stack.api.delete(f"/v1/jobs/{job_id}", headers=stack.headers())
    assert r.status_code == 204 and r.content == b""

    row = job(stack.engine, job_id)
    assert {name: getattr(row, name) for name in ERASED} == ERASED
    assert row.erased_at is not None and row.status == JobStatus.SUCCEEDED
    assert row.input_tokens == done["usage"]["input_tokens"] > 0  # usage stays
    hooks = {d.id: d for d in deliveries_of(stack.engine, job_id)}
    assert all(d.payload == "" for d in hooks.values())
    assert hooks[parked.id].status == DeliveryStatus.FAILED  # never sent after the erasure
    assert not client.exists(events)
    with Session(stack.engine) as s:  # the ledger stays: bills add up
        assert s.scalars(select(LedgerEntry.id).where(LedgerEntry.job_id == job_id)).all()

    shown = stack.api.get(f"/v1/jobs/{job_id}", headers=stack.headers()).json()
    assert shown["status"] == "succeeded" and shown["erased_at"]
    assert shown["result"] is None and shown["metadata"] is None
    assert shown["usage"] == done["usage"]
    # erasing again is harmless, and keeps the first erasure's time
    assert stack.api.delete(f"/v1/jobs/{job_id}", headers=stack.headers()).status_code == 204
    assert stack.api.get(f"/v1/jobs/{job_id}", headers=stack.headers()).json()["erased_at"] == shown["erased_at"]
    client.close()


def test_delete_refuses_a_job_not_finished_and_hides_another_tenants(stack) -> None:
    # queued, not due for an hour: no worker takes it during the test
    [job_id] = queued_jobs(stack.engine, 1, metadata_={"k": "v"},
                           not_before=clock.now(stack.engine) + timedelta(hours=1))
    r = stack.api.delete(f"/v1/jobs/{job_id}", headers=stack.headers())
    assert r.status_code == 409 and r.json()["error"]["type"] == "job_not_finished"
    assert job(stack.engine, job_id).input_text == "document 0"
    with stack.engine.begin() as conn:
        conn.execute(update(Job).where(Job.id == job_id).values(status=JobStatus.FAILED, error_type="x",
                                                                 error_message="quotes document 0"))
    r = stack.api.delete(f"/v1/jobs/{job_id}", headers=stack.headers("globex"))
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found"
    assert job(stack.engine, job_id).error_message == "quotes document 0"
    assert stack.api.delete("/v1/jobs/job_missing", headers=stack.headers()).status_code == 404
    assert stack.api.delete(f"/v1/jobs/{job_id}").status_code == 401
    assert stack.api.delete(f"/v1/jobs/{job_id}", headers=stack.headers()).status_code == 204
    shown = stack.api.get(f"/v1/jobs/{job_id}", headers=stack.headers()).json()
    assert shown["error"] == {"type": "x", "message": ""}  # the type stays, the message may quote input


@pytest.fixture(scope="module")
def own_database(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    kind = "sqlite" if database_url.startswith("sqlite") else "postgres"
    with fresh_database(kind, tmp_path_factory.mktemp("erase")) as url:
        yield url


def test_retention_erases_only_jobs_finished_longer_ago(own_database: str, monkeypatch) -> None:
    engine = engine_for(own_database)
    now = clock.now(engine)
    old, recent = (queued_jobs(engine, 3, status=JobStatus.SUCCEEDED, result={"total": 1}, metadata_={"k": 1},
                               finished_at=now - timedelta(days=days)) for days in (10, 1))
    # open jobs created long ago (a long wait, a long run) are never erased
    open_ = queued_jobs(engine, 2, created_at=now - timedelta(days=30), not_before=now + timedelta(hours=1))
    running = queued_jobs(engine, 1, status=JobStatus.RUNNING, created_at=now - timedelta(days=30),
                          lease_until=now + timedelta(hours=1))
    prefix = f"pqerase-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(REDIS_URL)
    for job_id in old + recent:
        client.xadd(keys.job_events(prefix, job_id), {"event": "job", "data": "{}"})
    rt = SimpleNamespace(settings=Settings(database_url=own_database, redis_prefix=prefix, retention_days=5),
                         engine=engine, redis=client)
    monkeypatch.setattr(relay, "PURGE_CHUNK", 2)  # in chunks: two passes for three jobs
    try:
        assert relay.purge(rt) == 2
        assert relay.purge(rt) == 1
        assert relay.purge(rt) == 0
        for job_id in old:
            row = job(engine, job_id)
            assert row.erased_at is not None and row.input_text == "" and row.result is None
            assert row.metadata_ is None
            assert not client.exists(keys.job_events(prefix, job_id))
        for job_id in recent + open_ + running:
            row = job(engine, job_id)
            assert row.erased_at is None and row.input_text.startswith("document")
        assert all(client.exists(keys.job_events(prefix, job_id)) for job_id in recent)
        assert erase.purge_expired(engine, retention_days=5) == []
    finally:
        forget_redis_prefix(REDIS_URL, prefix)
        client.close()

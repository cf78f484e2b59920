"""Runs of a job are counted and bounded: every claim counts one, a lapsed lease counts
one more lapse and, past the bound, fails the job instead of re-queuing it; a finish
whose webhook body cannot be built raises, unless it is lenient, when it commits
anyway with a webhook that leaves the metadata and result out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from promptq.store import jobs
from promptq.store.engine import engine_for
from promptq.store.models import Job, WebhookDelivery, utcnow
from promptq.store.status import JobStatus
from store.test_claim import ONE_STATEMENT, ONE_PER_JOB
from support import fresh_database, queued_jobs

HOOK = "https://example.com/hook"


@pytest.fixture
def engine(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    # the test's own database: a live worker's relay (the session's stack) would race it
    kind = "sqlite" if database_url.startswith("sqlite") else "postgres"
    with fresh_database(kind, tmp_path_factory.mktemp("runs")) as url:
        yield engine_for(url)


def nested(depth: int) -> dict:
    """{"a": {"a": … {}}}, `depth` levels: more than pydantic serialises (255)."""
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def job(engine, job_id: str) -> Job:
    with Session(engine) as s:
        return s.get(Job, job_id)


def webhooks(engine, job_id: str) -> list[WebhookDelivery]:
    with Session(engine) as s:
        return [d for d in s.exec(select(WebhookDelivery)) if json.loads(d.payload)["data"]["id"] == job_id]


@pytest.mark.parametrize("claim_group_min", [ONE_STATEMENT, ONE_PER_JOB], ids=["one-statement", "one-per-job"])
def test_every_claim_counts_a_run_and_returns_the_count(engine, monkeypatch, claim_group_min: int) -> None:
    monkeypatch.setattr(jobs, "CLAIM_GROUP_MIN", claim_group_min)
    ids = queued_jobs(engine, 2)
    for run in (1, 2, 3):
        claims = jobs.claim_many(engine, ids, lease_s=30)
        assert [c.job.runs for c in claims if c] == [run, run]
        for c in claims:
            assert jobs.requeue(engine, c, not_before=None, dispatched=True)
    assert [job(engine, i).runs for i in ids] == [3, 3]


def lapse(engine, job_id: str) -> None:
    with Session(engine) as s:
        s.execute(update(Job).where(Job.id == job_id).values(lease_until=utcnow() - timedelta(seconds=1)))
        s.commit()


def test_a_job_whose_lease_lapses_past_the_bound_fails_with_its_webhook(engine) -> None:
    [job_id] = queued_jobs(engine, 1, webhook_url=HOOK)
    for lapses in (1, 2):  # within the bound: back to the queue, the lapse counted
        assert jobs.claim(engine, job_id, lease_s=30)
        lapse(engine, job_id)
        assert jobs.fail_lapsed(engine, max_lapsed_runs=2) == []
        assert jobs.requeue_lapsed(engine) == 1
        assert (job(engine, job_id).status, job(engine, job_id).lapsed_runs) == (JobStatus.QUEUED, lapses)
    assert jobs.claim(engine, job_id, lease_s=30)
    assert jobs.fail_lapsed(engine, max_lapsed_runs=2) == []  # its lease holds
    lapse(engine, job_id)
    assert jobs.fail_lapsed(engine, max_lapsed_runs=2) == [job_id]
    failed = job(engine, job_id)
    assert (failed.status, failed.error_type, failed.lapsed_runs, failed.claim_token) == (
        JobStatus.FAILED, "too_many_runs", 3, None)
    assert jobs.requeue_lapsed(engine) == 0  # not re-queued
    [hook] = webhooks(engine, job_id)
    assert hook.event_type == "job.failed" and hook.dispatched_at is None  # the relay publishes it


def test_a_lapsed_job_whose_webhook_cannot_be_built_fails_all_the_same(engine) -> None:
    [job_id] = queued_jobs(engine, 1, webhook_url=HOOK, metadata_=nested(260))
    assert jobs.claim(engine, job_id, lease_s=30)
    with Session(engine) as s:
        s.execute(update(Job).where(Job.id == job_id).values(lapsed_runs=5))
        s.commit()
    lapse(engine, job_id)
    assert jobs.fail_lapsed(engine, max_lapsed_runs=5) == [job_id]
    [hook] = webhooks(engine, job_id)
    assert json.loads(hook.payload)["data"]["metadata"] is None


def test_a_finish_whose_webhook_cannot_be_built_raises_unless_lenient(engine) -> None:
    [job_id] = queued_jobs(engine, 1, webhook_url=HOOK, metadata_=nested(260))
    claim = jobs.claim(engine, job_id, lease_s=30)
    with pytest.raises(ValueError):
        jobs.finish_many(engine, [jobs.Finish(claim, JobStatus.SUCCEEDED, result={"x": 1})])
    assert job(engine, job_id).status == JobStatus.RUNNING  # rolled back
    [made] = jobs.finish_many(engine, [jobs.Finish(claim, JobStatus.FAILED, error_type="internal_error",
                                                   error_message="ValueError", lenient_webhook=True)])
    assert job(engine, job_id).status == JobStatus.FAILED
    [delivery] = made
    data = json.loads(delivery.payload)["data"]
    assert (data["status"], data["error"]["type"], data["metadata"]) == ("failed", "internal_error", None)


def test_a_lenient_finish_keeps_the_metadata_it_can_send(engine) -> None:
    [job_id] = queued_jobs(engine, 1, webhook_url=HOOK, metadata_={"order": 7})
    claim = jobs.claim(engine, job_id, lease_s=30)
    [[delivery]] = jobs.finish_many(engine, [jobs.Finish(claim, JobStatus.FAILED, error_type="internal_error",
                                                         error_message="x", lenient_webhook=True)])
    assert json.loads(delivery.payload)["data"]["metadata"] == {"order": 7}

"""Finishing jobs: each job's ledger row, terminal state and webhook commit together,
several jobs to a transaction, and a lost claim changes nothing but the bill."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from promptq.store import jobs
from promptq.store.engine import engine_for
from promptq.store.models import Batch, Job, LedgerEntry, LedgerLine, WebhookDelivery
from promptq.store.status import JobStatus
from support import queued_jobs


def running_jobs(engine, n: int, *, webhook_url: str | None = "https://example.com/hook",
                 batch: Batch | None = None) -> list[jobs.Claim]:
    """`n` claimed jobs (support.queued_jobs, claimed one by one)."""
    claims = [jobs.claim(engine, job_id, lease_s=30)
              for job_id in queued_jobs(engine, n, webhook_url=webhook_url, batch=batch)]
    assert all(claims)
    return claims


def ledger_entry(claim: jobs.Claim, input_tokens: int = 100) -> LedgerLine:
    job = claim.job
    return LedgerLine(tenant_id=job.tenant_id, job_id=job.id, batch_id=job.batch_id, task=job.task,
                       provider="anthropic", model="claude-haiku-4-5", prompt_version="v1", attempt=1,
                       input_tokens=input_tokens, output_tokens=20, cost_usd=0.001, latency_ms=7,
                       outcome="ok", request_id="req_1")


# On PostgreSQL a group of GROUP_STATEMENT_MIN or more finishes is one UPDATE; fewer,
# one UPDATE each (always, on SQLite). Both ways must store and return the same.
ONE_STATEMENT, ONE_PER_JOB = 1, 1000
ways = pytest.mark.parametrize("group_statement_min", [ONE_STATEMENT, ONE_PER_JOB],
                               ids=["one-statement", "one-per-job"])


@ways
def test_a_group_commits_each_jobs_ledger_row_state_and_webhook(database_url: str, monkeypatch,
                                                                group_statement_min: int) -> None:
    monkeypatch.setattr(jobs, "GROUP_STATEMENT_MIN", group_statement_min)
    engine = engine_for(database_url)
    claims = running_jobs(engine, 3)
    made = jobs.finish_many(engine, [
        jobs.Finish(claims[0], JobStatus.SUCCEEDED, result={"n": 0}, entry=ledger_entry(claims[0], 100),
                    model="claude-haiku-4-5"),
        jobs.Finish(claims[1], JobStatus.FAILED, error_type="refusal", error_message="no",
                    entry=ledger_entry(claims[1], 200)),
        jobs.Finish(claims[2], JobStatus.NEEDS_REVIEW, error_type="invalid_output", error_message="bad"),
    ])
    assert [len(m) for m in made] == [1, 1, 1]
    with Session(engine) as s:
        found = {j.id: j for j in s.exec(select(Job).where(Job.id.in_([c.job.id for c in claims])))}
        hooks = {d.id: d for d in s.exec(select(WebhookDelivery).where(
            WebhookDelivery.id.in_([m[0].id for m in made])))}
        billed = s.exec(select(LedgerEntry.job_id, LedgerEntry.input_tokens).where(
            LedgerEntry.job_id.in_([c.job.id for c in claims]))).all()
    first, second, third = (found[c.job.id] for c in claims)
    assert (first.status, first.result, first.input_tokens, first.attempts, first.model) == (
        JobStatus.SUCCEEDED, {"n": 0}, 100, 1, "claude-haiku-4-5")
    assert (second.status, second.error_type, second.input_tokens) == (JobStatus.FAILED, "refusal", 200)
    assert (third.status, third.attempts, third.lease_until) == (JobStatus.NEEDS_REVIEW, 0, None)
    assert sorted(billed) == sorted([(claims[0].job.id, 100), (claims[1].job.id, 200)])
    # each webhook is its own job's, in the order of the finishes
    assert [hooks[m[0].id].event_type for m in made] == ["job.succeeded", "job.failed", "job.needs_review"]
    assert all(f'"id":"{c.job.id}"' in m[0].payload for c, m in zip(claims, made))


@ways
def test_a_lost_claim_is_none_and_keeps_its_ledger_row_while_the_others_finish(
        database_url: str, monkeypatch, group_statement_min: int) -> None:
    monkeypatch.setattr(jobs, "GROUP_STATEMENT_MIN", group_statement_min)
    engine = engine_for(database_url)
    mine, theirs = running_jobs(engine, 2)
    stale = jobs.Claim(theirs.job, "a-token-that-lost-the-job")
    made = jobs.finish_many(engine, [
        jobs.Finish(stale, JobStatus.SUCCEEDED, result={}, entry=ledger_entry(theirs, 300)),
        jobs.Finish(mine, JobStatus.SUCCEEDED, result={}, entry=ledger_entry(mine, 50)),
    ])
    assert made[0] is None and len(made[1]) == 1
    with Session(engine) as s:
        lost, won = s.get(Job, theirs.job.id), s.get(Job, mine.job.id)
    # the call was made and billed: the job carries the cost, its state is not touched
    assert (lost.status, lost.input_tokens, lost.attempts) == (JobStatus.RUNNING, 300, 1)
    assert (won.status, won.input_tokens) == (JobStatus.SUCCEEDED, 50)


def test_a_job_without_a_webhook_url_gets_no_delivery(database_url: str) -> None:
    engine = engine_for(database_url)
    [claim] = running_jobs(engine, 1, webhook_url=None)
    assert jobs.finish_many(engine, [jobs.Finish(claim, JobStatus.SUCCEEDED, result={})]) == [[]]


def test_a_ledger_line_carries_every_ledger_column_but_the_id() -> None:
    assert list(LedgerLine.model_fields) == [c.name for c in LedgerEntry.__table__.c if c.name != "id"]

"""Claiming jobs: queued → running for one owner, one by one or a worker's claims in one
statement, each way storing and returning the same."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from promptq.store import jobs
from promptq.store.engine import engine_for
from promptq.store.models import Job, utcnow
from promptq.store.status import JobStatus
from support import queued_jobs

# On PostgreSQL a group of CLAIM_GROUP_MIN or more claims is one UPDATE; fewer, one each
# (always, on SQLite). Both ways must claim and return the same.
ONE_STATEMENT, ONE_PER_JOB = 1, 1000
ways = pytest.mark.parametrize("claim_group_min", [ONE_STATEMENT, ONE_PER_JOB],
                               ids=["one-statement", "one-per-job"])


def stored(engine, job_ids: list[str]) -> dict[str, Job]:
    with Session(engine) as s:
        return {j.id: j for j in s.exec(select(Job).where(Job.id.in_(job_ids)))}


@ways
def test_each_job_of_a_group_is_claimed_with_a_token_of_its_own(database_url: str, monkeypatch,
                                                               claim_group_min: int) -> None:
    monkeypatch.setattr(jobs, "CLAIM_GROUP_MIN", claim_group_min)
    engine = engine_for(database_url)
    ids = queued_jobs(engine, 3)

    claims = jobs.claim_many(engine, ids, lease_s=30)

    assert [c.job.id for c in claims] == ids  # in the order asked
    assert len({c.token for c in claims}) == 3
    assert [c.job.input_text for c in claims] == ["document 0", "document 1", "document 2"]
    found = stored(engine, ids)
    for c in claims:
        job = found[c.job.id]
        assert (job.status, job.claim_token) == (JobStatus.RUNNING, c.token)
        assert job.started_at is not None and job.lease_until > utcnow() + timedelta(seconds=25)
    # and the claim is theirs: a finish with the token goes through
    assert all(made is not None for made in jobs.finish_many(
        engine, [jobs.Finish(c, JobStatus.SUCCEEDED, result={}) for c in claims]))


@ways
def test_a_group_claims_only_queued_due_jobs(database_url: str, monkeypatch, claim_group_min: int) -> None:
    monkeypatch.setattr(jobs, "CLAIM_GROUP_MIN", claim_group_min)
    engine = engine_for(database_url)
    ready, later = queued_jobs(engine, 1), queued_jobs(engine, 1, not_before=utcnow() + timedelta(minutes=5))
    taken = queued_jobs(engine, 1)
    assert jobs.claim(engine, taken[0], lease_s=30) is not None

    claims = jobs.claim_many(engine, [*ready, *later, *taken, "job_that_does_not_exist"], lease_s=30)

    assert [c is not None for c in claims] == [True, False, False, False]
    assert stored(engine, later)[later[0]].status == JobStatus.QUEUED


@ways
def test_a_job_asked_for_twice_in_a_group_is_claimed_once(database_url: str, monkeypatch,
                                                          claim_group_min: int) -> None:
    # a message delivered twice, both copies taken by the same worker at once
    monkeypatch.setattr(jobs, "CLAIM_GROUP_MIN", claim_group_min)
    engine = engine_for(database_url)
    [job_id] = queued_jobs(engine, 1)

    claims = jobs.claim_many(engine, [job_id, job_id], lease_s=30)

    won = [c for c in claims if c is not None]
    assert len(won) == 1
    assert stored(engine, [job_id])[job_id].claim_token == won[0].token

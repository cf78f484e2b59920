"""A call made mid-run (a piece of a split document, a fallback, a repair), recorded as
the pipeline records it: its ledger row reserved and settled (and the job's totals)
always — the call was made and billed — and the job's progress through its pieces only
while the claim holds."""

from __future__ import annotations

from sqlmodel import Session

from promptq.api.submission import cancel_open_jobs
from promptq.store import jobs, ledger
from promptq.store.engine import engine_for
from promptq.store.models import Job
from promptq.store.status import JobStatus

from store.test_finish import ledger_entry, running_jobs

PROGRESS = {"spans": [[0, 11], [12, 23]], "partials": [{"n": 1}], "shrinks": 0}


def record_piece(engine, claim: jobs.Claim, input_tokens: int = 100) -> None:
    """A call of `claim`'s job reserved, settled, and the progress kept (workers/pipeline.py)."""
    made = ledger_entry(claim, input_tokens)
    [row_id] = ledger.write(engine, [ledger.Reserve(made.model_copy(update={"outcome": ledger.PENDING}))])
    ledger.write(engine, [ledger.Settle(row_id, made)])
    jobs.keep_progress(engine, claim, PROGRESS)


def test_a_piece_is_recorded_with_the_progress_a_later_run_goes_on_from(database_url: str) -> None:
    engine = engine_for(database_url)
    [claim] = running_jobs(engine, 1)
    record_piece(engine, claim, 100)
    with Session(engine) as s:
        job = s.get(Job, claim.job.id)
    assert (job.progress, job.attempts, job.input_tokens) == (PROGRESS, 1, 100)
    # ... which the next claim of the job reads back
    assert jobs.requeue(engine, claim, not_before=None, dispatched=True, progress=PROGRESS)
    again = jobs.claim(engine, claim.job.id, lease_s=30)
    assert again is not None and again.job.progress == PROGRESS


def test_a_lost_claim_records_the_call_but_not_the_progress(database_url: str) -> None:
    engine = engine_for(database_url)
    [claim] = running_jobs(engine, 1)
    stale = jobs.Claim(claim.job, "a-token-that-lost-the-job")
    record_piece(engine, stale, 70)
    with Session(engine) as s:
        job = s.get(Job, claim.job.id)
    assert (job.progress, job.attempts, job.input_tokens) == (None, 1, 70)


def test_finishing_a_job_clears_its_progress(database_url: str) -> None:
    engine = engine_for(database_url)
    claims = running_jobs(engine, 1 + jobs.GROUP_STATEMENT_MIN)
    for claim in claims:
        record_piece(engine, claim)
    # one alone (an UPDATE of its own), the others together (one statement on PostgreSQL)
    jobs.finish_many(engine, [jobs.Finish(claims[0], JobStatus.SUCCEEDED, result={})])
    jobs.finish_many(engine, [jobs.Finish(c, JobStatus.FAILED) for c in claims[1:]])
    with Session(engine) as s:
        assert [s.get(Job, c.job.id).progress for c in claims] == [None] * len(claims)


def test_cancelling_a_job_clears_its_progress(database_url: str) -> None:
    engine = engine_for(database_url)
    [claim] = running_jobs(engine, 1)
    record_piece(engine, claim)
    with Session(engine) as s:
        assert len(cancel_open_jobs(s, Job.id == claim.job.id)) == 1
        s.commit()
    with Session(engine) as s:
        job = s.get(Job, claim.job.id)
    assert (job.status, job.progress) == (JobStatus.CANCELLED, None)

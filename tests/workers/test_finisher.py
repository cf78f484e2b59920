"""The finisher: finishes from many threads share transactions, each waiter gets its
own answer, one finish the store refuses fails only its own job, and nothing is
refused or lost while the worker shuts down."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy.exc import StatementError
from sqlmodel import Session, select

from promptq.api.submission import batch_row
from promptq.prompts.registry import get_task
from promptq.store import jobs
from promptq.store.engine import engine_for
from promptq.store.models import Batch, Job
from promptq.store.status import BatchStatus, JobStatus, Priority
from promptq.workers.finisher import Finisher
from store.test_finish import ledger_entry, running_jobs


def statuses(engine, claims: list[jobs.Claim]) -> dict[str, JobStatus]:
    with Session(engine) as s:
        return dict(s.exec(select(Job.id, Job.status).where(Job.id.in_([c.job.id for c in claims]))).all())


def test_finishes_arriving_together_share_transactions(own_database: str) -> None:
    engine = engine_for(own_database)
    claims = running_jobs(engine, 40)
    finisher = Finisher(engine)
    start = threading.Barrier(40)

    def finish(claim: jobs.Claim):
        start.wait()
        return finisher.finish(jobs.Finish(claim, JobStatus.SUCCEEDED, result={"id": claim.job.id},
                                           entry=ledger_entry(claim)))
    try:
        with ThreadPoolExecutor(40) as pool:
            made = list(pool.map(finish, claims))
    finally:
        finisher.stop()
    # every thread got its own job's webhook back
    assert all(f'"id":"{c.job.id}"' in m[0].payload for c, m in zip(claims, made))
    assert set(statuses(engine, claims).values()) == {JobStatus.SUCCEEDED}
    assert finisher.groups < 40


def test_a_finish_the_store_refuses_fails_alone(own_database: str) -> None:
    engine = engine_for(own_database)
    claims = running_jobs(engine, 6)
    bad = claims[2]
    finisher = Finisher(engine)
    start = threading.Barrier(6)

    def finish(claim: jobs.Claim):
        # a set is not JSON: the store cannot write this result
        result = {"tags": {"a"}} if claim is bad else {"ok": True}
        start.wait()
        return finisher.finish(jobs.Finish(claim, JobStatus.SUCCEEDED, result=result))
    try:
        with ThreadPoolExecutor(6) as pool:
            futures = [pool.submit(finish, c) for c in claims]
        with pytest.raises((StatementError, TypeError)):  # SQLite via SQLAlchemy, psycopg itself
            futures[2].result()
        assert all(len(f.result()) == 1 for i, f in enumerate(futures) if i != 2)
    finally:
        finisher.stop()
    found = statuses(engine, claims)
    assert found.pop(bad.job.id) == JobStatus.RUNNING  # left to its lease, as after any store error
    assert set(found.values()) == {JobStatus.SUCCEEDED}


def test_after_stop_a_finish_commits_on_the_callers_thread(own_database: str) -> None:
    engine = engine_for(own_database)
    batch_id, (first, late) = running_batch(engine, 2)
    finisher = Finisher(engine)
    assert len(finisher.finish(jobs.Finish(first, JobStatus.SUCCEEDED, result={}))) == 1
    finisher.stop()
    assert not finisher._group._thread.is_alive()
    # committed here, and it still completes its batch (job.succeeded + batch.completed)
    assert len(finisher.finish(jobs.Finish(late, JobStatus.SUCCEEDED, result={}))) == 2
    assert set(statuses(engine, [first, late]).values()) == {JobStatus.SUCCEEDED}
    assert batch_status(engine, batch_id) == BatchStatus.COMPLETED


def running_batch(engine, n: int) -> tuple[str, list[jobs.Claim]]:
    batch = batch_row("acme", get_task("job_posting_extraction"), n, "https://example.com/batch-hook",
                      Priority.BATCH)
    batch_id = batch.id
    return batch_id, running_jobs(engine, n, batch=batch)


def batch_status(engine, batch_id: str) -> BatchStatus:
    with Session(engine) as s:
        return s.get(Batch, batch_id).status


def test_the_job_that_finishes_a_batch_carries_its_completed_webhook(own_database: str) -> None:
    engine = engine_for(own_database)
    batch_id, claims = running_batch(engine, 3)
    counted: list[list[str]] = []

    def count_down(batch_ids):  # as the Redis countdown: the third job takes it to zero
        counted.append(list(batch_ids))
        return {batch_id} if sum(map(len, counted)) >= 3 else set()

    finisher = Finisher(engine, count_down=count_down)
    try:
        first = finisher.finish(jobs.Finish(claims[0], JobStatus.SUCCEEDED, result={}))
        assert len(first) == 1  # its own webhook only: the countdown is not at zero
        assert batch_status(engine, batch_id) == BatchStatus.IN_PROGRESS
        start = threading.Barrier(2)

        def finish(claim: jobs.Claim):
            start.wait()
            return finisher.finish(jobs.Finish(claim, JobStatus.SUCCEEDED, result={}))
        with ThreadPoolExecutor(2) as pool:
            made = list(pool.map(finish, claims[1:]))
    finally:
        finisher.stop()
    assert batch_status(engine, batch_id) == BatchStatus.COMPLETED
    # one batch.completed in all, with the job that finished the batch
    types = [[d.payload.split('"type":"', 1)[1].split('"', 1)[0] for d in m] for m in made]
    assert sorted(map(tuple, types)) == [("job.succeeded",), ("job.succeeded", "batch.completed")]
    assert sorted(map(len, counted)) in ([1, 1, 1], [1, 2])  # one round trip per group


def test_without_a_countdown_the_store_decides_and_the_finish_stands(own_database: str) -> None:
    engine = engine_for(own_database)
    batch_id, claims = running_batch(engine, 2)

    def redis_away(batch_ids):
        raise ConnectionError("redis is away")

    finisher = Finisher(engine, count_down=redis_away)
    try:
        # asked after each job: still one job open, then none
        assert len(finisher.finish(jobs.Finish(claims[0], JobStatus.SUCCEEDED, result={}))) == 1
        assert batch_status(engine, batch_id) == BatchStatus.IN_PROGRESS
        assert len(finisher.finish(jobs.Finish(claims[1], JobStatus.FAILED, error_type="x"))) == 2
    finally:
        finisher.stop()
    assert batch_status(engine, batch_id) == BatchStatus.COMPLETED

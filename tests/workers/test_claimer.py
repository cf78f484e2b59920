"""The claimer: claims from many threads share statements, and each thread gets its
own job, claimed once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlmodel import Session, select

from promptq.store.engine import engine_for
from promptq.store.models import Job
from promptq.store.status import JobStatus
from promptq.workers.claimer import new_claimer
from support import queued_jobs


def test_claims_arriving_together_share_statements_and_each_thread_gets_its_job(own_database: str) -> None:
    engine = engine_for(own_database)
    ids = queued_jobs(engine, 40)
    claimer = new_claimer(engine, lease_s=30)
    start = threading.Barrier(80)

    def claim(job_id: str):
        start.wait()
        return claimer(job_id)
    try:
        with ThreadPoolExecutor(80) as pool:  # every job asked for twice, as by a duplicate message
            claims = list(pool.map(claim, ids + ids))
    finally:
        claimer.stop()
    won = [c for c in claims if c is not None]
    assert sorted(c.job.id for c in won) == sorted(ids)  # each job once
    with Session(engine) as s:
        rows = {j.id: j for j in s.exec(select(Job).where(Job.id.in_(ids)))}
    assert all((rows[c.job.id].status, rows[c.job.id].claim_token) == (JobStatus.RUNNING, c.token) for c in won)
    assert claimer.groups < 80


def test_after_stop_a_claim_is_made_on_the_callers_thread(own_database: str) -> None:
    engine = engine_for(own_database)
    [job_id] = queued_jobs(engine, 1)
    claimer = new_claimer(engine, lease_s=30)
    claimer.stop()
    claim = claimer(job_id)
    assert claim is not None and claim.job.id == job_id

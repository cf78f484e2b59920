"""Job state transitions. Every transition is one conditional UPDATE, so two
workers (or a redelivered message) can never both move the same job."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from promptq.store import deliveries
from promptq.store.models import Job, LedgerEntry, utcnow
from promptq.store.status import TERMINAL, JobStatus

_OPEN = (JobStatus.QUEUED, JobStatus.RUNNING)
# A message may arrive a little before its job's not_before (host clocks differ by
# milliseconds); refusing it would leave the job to the relay's stale sweep.
CLOCK_TOLERANCE = timedelta(seconds=1)


@dataclass(frozen=True)
class Claim:
    job: Job
    token: str


def claim(engine: Engine, job_id: str, lease_s: float) -> Claim | None:
    """queued → running, if the job is queued and due. None: someone else's, finished, or early."""
    now = utcnow()
    token = uuid.uuid4().hex
    with Session(engine, expire_on_commit=False) as s:
        result = s.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.QUEUED,
                   or_(Job.not_before.is_(None), Job.not_before <= now + CLOCK_TOLERANCE))
            .values(status=JobStatus.RUNNING, claim_token=token,
                    lease_until=now + timedelta(seconds=lease_s),
                    started_at=func.coalesce(Job.started_at, now))
        )
        s.commit()
        if result.rowcount != 1:
            return None
        job = s.get(Job, job_id)
        assert job is not None
        s.expunge(job)
        return Claim(job, token)


def renew_leases(engine: Engine, tokens: list[str], lease_s: float) -> int:
    """Extend the lease of the jobs this process runs; returns how many were still ours."""
    if not tokens:
        return 0
    with Session(engine, expire_on_commit=False) as s:
        result = s.execute(
            update(Job).where(Job.claim_token.in_(tokens), Job.status == JobStatus.RUNNING)
            .values(lease_until=utcnow() + timedelta(seconds=lease_s)))
        s.commit()
        return result.rowcount


def record_attempt(engine: Engine, claim_: Claim, entry: LedgerEntry) -> None:
    """One ledger row, and the job's running totals, in one transaction."""
    with Session(engine, expire_on_commit=False) as s:
        s.add(entry)
        s.execute(
            update(Job).where(Job.id == claim_.job.id).values(
                attempts=Job.attempts + 1,
                input_tokens=Job.input_tokens + entry.input_tokens,
                output_tokens=Job.output_tokens + entry.output_tokens,
                cache_creation_input_tokens=Job.cache_creation_input_tokens
                + entry.cache_creation_input_tokens,
                cache_read_input_tokens=Job.cache_read_input_tokens + entry.cache_read_input_tokens,
                # An unknown price makes the job's cost unknown too: NULL propagates.
                cost_usd=Job.cost_usd + entry.cost_usd if entry.cost_usd is not None else None,
            ))
        s.commit()


def finish(engine: Engine, claim_: Claim, status: JobStatus, *, result: dict[str, Any] | None = None,
           error_type: str | None = None, error_message: str | None = None,
           **fields: Any) -> list[str] | None:
    """running → terminal, only for the holder of the claim.

    The job's webhook (`job.<status>`) is stored in the same transaction — an outbox:
    a worker that dies right after the commit loses no webhook. Returns the ids of
    the deliveries to publish; None when the claim was lost (cancelled meanwhile, or
    the lease lapsed and another worker took the job).
    """
    assert status in TERMINAL
    with Session(engine, expire_on_commit=False) as s:
        res = s.execute(
            update(Job).where(Job.id == claim_.job.id, Job.status == JobStatus.RUNNING,
                              Job.claim_token == claim_.token)
            .values(status=status, result=result, error_type=error_type,
                    error_message=error_message, finished_at=utcnow(), lease_until=None, **fields))
        if res.rowcount != 1:
            s.rollback()
            return None
        job = s.get(Job, claim_.job.id, populate_existing=True)
        assert job is not None
        ids = deliveries.enqueue_job_event(s, job)
        s.commit()
        return ids


def requeue(engine: Engine, claim_: Claim, *, not_before: datetime | None, dispatched: bool,
            **fields: Any) -> bool:
    """running → queued, to run again after `not_before`. `dispatched`: a broker message
    carries it (a countdown); otherwise it is parked and the relay publishes it when due."""
    with Session(engine, expire_on_commit=False) as s:
        res = s.execute(
            update(Job).where(Job.id == claim_.job.id, Job.status == JobStatus.RUNNING,
                              Job.claim_token == claim_.token)
            .values(status=JobStatus.QUEUED, not_before=not_before, claim_token=None,
                    lease_until=None, dispatched_at=utcnow() if dispatched else None, **fields))
        s.commit()
        return res.rowcount == 1


def due_for_relay(engine: Engine, *, stale_s: float, limit: int = 1000) -> list[tuple[str, str]]:
    """(job id, priority) of queued jobs to publish again, marking them dispatched.

    - parked jobs (no message) whose not_before has passed;
    - jobs whose message is older than `stale_s` past their due time (a lost message);
    - running jobs whose lease lapsed (their worker died): back to queued first.
    """
    now = utcnow()
    stale = now - timedelta(seconds=stale_s)
    with Session(engine, expire_on_commit=False) as s:
        s.execute(update(Job).where(Job.status == JobStatus.RUNNING, Job.lease_until < now)
                  .values(status=JobStatus.QUEUED, claim_token=None, lease_until=None,
                          dispatched_at=None, not_before=None))
        rows = s.execute(
            select(Job.id, Job.priority).where(
                Job.status == JobStatus.QUEUED,
                or_(
                    and_(Job.dispatched_at.is_(None),
                         or_(Job.not_before.is_(None), Job.not_before <= now)),
                    and_(Job.dispatched_at < stale,
                         or_(Job.not_before.is_(None), Job.not_before < stale)),
                ),
            ).limit(limit)
        ).all()
        if rows:
            s.execute(update(Job).where(Job.id.in_([r[0] for r in rows])).values(dispatched_at=now))
        s.commit()
        return [(r[0], str(r[1])) for r in rows]

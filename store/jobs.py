"""Job state transitions. Every transition is one conditional UPDATE, so two
workers (or a redelivered message) can never both move the same job."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from promptq.store import deliveries
from promptq.store.models import Job, LedgerEntry, utcnow
from promptq.store.status import TERMINAL, JobStatus

_OPEN = (JobStatus.QUEUED, JobStatus.RUNNING)
# A message may arrive a little before its job's not_before (host clocks differ by
# milliseconds); refusing it would leave the job to the relay's stale sweep.
CLOCK_TOLERANCE = timedelta(seconds=1)


JOBS = Job.__table__
LEDGER = LedgerEntry.__table__
# The hot path (claim, record, finish) uses Core statements with RETURNING: one round
# trip each, none of the ORM's unit-of-work bookkeeping.


@dataclass(frozen=True)
class Claim:
    job: Job
    token: str


def _job(row: Any) -> Job:
    """A detached Job from a RETURNING row (column `metadata` is attribute `metadata_`)."""
    values = dict(row)
    values["metadata_"] = values.pop("metadata")
    return Job(**values)


def claim(engine: Engine, job_id: str, lease_s: float) -> Claim | None:
    """queued → running, if the job is queued and due. None: someone else's, finished, or early."""
    now = utcnow()
    token = uuid.uuid4().hex
    with engine.begin() as conn:
        row = conn.execute(
            update(JOBS)
            .where(JOBS.c.id == job_id, JOBS.c.status == JobStatus.QUEUED,
                   or_(JOBS.c.not_before.is_(None), JOBS.c.not_before <= now + CLOCK_TOLERANCE))
            .values(status=JobStatus.RUNNING, claim_token=token,
                    lease_until=now + timedelta(seconds=lease_s),
                    started_at=func.coalesce(JOBS.c.started_at, now))
            .returning(*JOBS.c)
        ).mappings().first()
    return Claim(_job(row), token) if row is not None else None


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


def _ledger_values(entry: LedgerEntry) -> dict[str, Any]:
    return {c.name: getattr(entry, c.name) for c in LEDGER.c if c.name != "id"}


def _add_usage(conn: Connection, entry: LedgerEntry) -> dict[str, Any]:
    """INSERT the ledger row; return the job-total increments it implies."""
    conn.execute(insert(LEDGER).values(**_ledger_values(entry)))
    return {
        "attempts": JOBS.c.attempts + 1,
        "input_tokens": JOBS.c.input_tokens + entry.input_tokens,
        "output_tokens": JOBS.c.output_tokens + entry.output_tokens,
        "cache_creation_input_tokens": JOBS.c.cache_creation_input_tokens + entry.cache_creation_input_tokens,
        "cache_read_input_tokens": JOBS.c.cache_read_input_tokens + entry.cache_read_input_tokens,
        # An unknown price makes the job's cost unknown too: NULL propagates.
        "cost_usd": JOBS.c.cost_usd + entry.cost_usd if entry.cost_usd is not None else None,
    }


def record_attempt(engine: Engine, claim_: Claim, entry: LedgerEntry) -> None:
    """One ledger row, and the job's running totals, in one transaction."""
    with engine.begin() as conn:
        totals = _add_usage(conn, entry)
        conn.execute(update(JOBS).where(JOBS.c.id == claim_.job.id).values(**totals))


def finish(engine: Engine, claim_: Claim, status: JobStatus, *, result: dict[str, Any] | None = None,
           error_type: str | None = None, error_message: str | None = None,
           entry: LedgerEntry | None = None, **fields: Any) -> list[str] | None:
    """running → terminal, only for the holder of the claim.

    One transaction: the last call's ledger row (`entry`), the terminal state, and the
    job's webhook (`job.<status>`) — an outbox: a worker that dies right after the
    commit loses no webhook. Returns the ids of the deliveries to publish; None when
    the claim was lost (cancelled meanwhile, or the lease lapsed and another worker
    took the job) — the ledger row is kept then too: the call was made and billed.
    """
    assert status in TERMINAL
    with engine.begin() as conn:
        totals = _add_usage(conn, entry) if entry is not None else {}
        row = conn.execute(
            update(JOBS).where(JOBS.c.id == claim_.job.id, JOBS.c.status == JobStatus.RUNNING,
                               JOBS.c.claim_token == claim_.token)
            .values(status=status, result=result, error_type=error_type, error_message=error_message,
                    finished_at=utcnow(), lease_until=None, **totals, **fields)
            .returning(*JOBS.c)
        ).mappings().first()
        if row is None:
            if totals:
                conn.execute(update(JOBS).where(JOBS.c.id == claim_.job.id).values(**totals))
            return None
        return deliveries.enqueue_job_event(conn, _job(row))


def requeue(engine: Engine, claim_: Claim, *, not_before: datetime | None, dispatched: bool,
            entry: LedgerEntry | None = None, **fields: Any) -> bool:
    """running → queued, to run again after `not_before`, with the failed call's ledger row
    (`entry`) in the same transaction. `dispatched`: a broker message carries it (a
    countdown); otherwise it is parked and the relay publishes it when due."""
    with engine.begin() as conn:
        totals = _add_usage(conn, entry) if entry is not None else {}
        moved = conn.execute(
            update(JOBS).where(JOBS.c.id == claim_.job.id, JOBS.c.status == JobStatus.RUNNING,
                               JOBS.c.claim_token == claim_.token)
            .values(status=JobStatus.QUEUED, not_before=not_before, claim_token=None, lease_until=None,
                    dispatched_at=utcnow() if dispatched else None, **totals, **fields)).rowcount
        if moved != 1 and totals:
            conn.execute(update(JOBS).where(JOBS.c.id == claim_.job.id).values(**totals))
        return moved == 1


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

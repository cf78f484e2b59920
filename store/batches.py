"""Batches: roll-ups (counts by status, usage so far) and completion."""

from __future__ import annotations

from sqlalchemy import exists, func, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from promptq.store import deliveries
from promptq.store.models import Batch, Job, utcnow
from promptq.store.public import BatchCounts, BatchPublic, UsagePublic
from promptq.store.status import BatchStatus, JobStatus

_OPEN = (JobStatus.QUEUED, JobStatus.RUNNING)


def batch_public(session: Session, batch: Batch) -> BatchPublic:
    rows = session.execute(
        select(Job.status, func.count(), func.sum(Job.input_tokens), func.sum(Job.output_tokens),
               func.sum(Job.cache_creation_input_tokens), func.sum(Job.cache_read_input_tokens),
               func.sum(Job.cost_usd), func.count(Job.cost_usd))
        .where(Job.batch_id == batch.id).group_by(Job.status)
    ).all()
    counts = BatchCounts(total=batch.total)
    usage = UsagePublic()
    unknown_cost = False
    for status, n, inp, out, cw, cr, cost, priced in rows:
        setattr(counts, str(status), n)
        usage.input_tokens += inp or 0
        usage.output_tokens += out or 0
        usage.cache_creation_input_tokens += cw or 0
        usage.cache_read_input_tokens += cr or 0
        usage.cost_usd = (usage.cost_usd or 0.0) + (cost or 0.0)
        unknown_cost |= priced < n
    if unknown_cost:
        usage.cost_usd = None
    elif usage.cost_usd is not None:
        usage.cost_usd = round(usage.cost_usd, 8)
    return BatchPublic.of(batch, counts, usage)


def complete_if_done(engine: Engine, batch_id: str) -> list[deliveries.NewDelivery]:
    """in_progress → completed once no job is open, with its `batch.completed` webhook
    stored in the same transaction. Returns the deliveries to make ([] when the
    batch still has open jobs, has no webhook, or another caller completed it)."""
    with Session(engine, expire_on_commit=False) as s:
        if s.execute(select(Job.id).where(Job.batch_id == batch_id, Job.status.in_(_OPEN)).limit(1)).first():
            return []
        moved = s.execute(update(Batch).where(Batch.id == batch_id, Batch.status == BatchStatus.IN_PROGRESS)
                          .values(status=BatchStatus.COMPLETED, finished_at=utcnow())).rowcount
        if moved != 1:
            return []
        batch = s.get(Batch, batch_id, populate_existing=True)
        assert batch is not None
        made: list[deliveries.NewDelivery] = []
        if batch.webhook_url:
            made = deliveries.enqueue(s, [(batch.tenant_id, batch.webhook_url, "batch.completed",
                                          batch_public(s, batch).model_dump(mode="json"))])
        s.commit()
        return made


def finished_batches(engine: Engine, limit: int = 100) -> list[str]:
    """In-progress batches with no open job left: their last jobs finished at the same
    moment (each saw the other still open) or a worker died between a job's commit and
    the batch's. The relay completes them."""
    open_jobs = exists().where(Job.batch_id == Batch.id, Job.status.in_(_OPEN))
    with Session(engine) as s:
        return list(s.execute(select(Batch.id).where(Batch.status == BatchStatus.IN_PROGRESS, ~open_jobs)
                              .limit(limit)).scalars())

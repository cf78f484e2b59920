"""Batch roll-ups: counts by status and usage so far, in one grouped query."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlmodel import Session

from promptq.store.models import Batch, Job
from promptq.store.public import BatchCounts, BatchPublic, UsagePublic


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

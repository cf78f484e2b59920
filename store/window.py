"""Per-tenant windows of batch-queue messages: fairness between tenants.

A job that rides the `batch` queue is stored without a message (dispatched_at NULL)
unless its tenant's window has room: a tenant has at most `window` batch messages
waiting at once (queued jobs whose message is out and due). The API publishes the first
window of a batch at submit; the relay tops every tenant's window up each tick, the
tenants' messages interleaved, so one tenant's 10,000 documents are never more than a
window in front of another tenant's, and a tenant alone still fills the whole fleet
(the window is refilled by what it ran since the last tick).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from itertools import chain, zip_longest
from typing import TypeVar

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from promptq.store.models import Job, utcnow
from promptq.store.status import JobStatus, Priority

T = TypeVar("T")
_GAP = object()


def room(window: int, out: int, held: int) -> int:
    """How many of a tenant's `held` jobs to publish now, with `out` messages waiting."""
    return max(0, min(held, window - out))


def plan(window: int, counts: Mapping[str, tuple[int, int]]) -> dict[str, int]:
    """tenant → jobs to publish, from tenant → (messages out, jobs held); only tenants
    with something to publish."""
    wanted = {tenant: room(window, out, held) for tenant, (out, held) in counts.items()}
    return {tenant: n for tenant, n in wanted.items() if n}


def interleave(groups: Iterable[Sequence[T]]) -> list[T]:
    """One of each group in turn (a1, b1, a2, b2, a3 …): the broker's FIFO queue then
    serves the tenants alike instead of one tenant's whole top-up first."""
    return [item for item in chain.from_iterable(zip_longest(*groups, fillvalue=_GAP))
            if item is not _GAP]  # type: ignore[misc]


def _batch_queue(now: datetime) -> tuple:
    """Queued jobs of the batch queue that may run now (a parked one waits for its time)."""
    return (Job.status == JobStatus.QUEUED, Job.priority == Priority.BATCH,
            or_(Job.not_before.is_(None), Job.not_before <= now))


def room_at_submit(session: Session, tenant: str, window: int) -> int:
    """How many jobs of a new batch the API may publish at once: the tenant's window less
    the messages it has out (one indexed count per batch, none per job)."""
    out = session.execute(select(func.count()).select_from(Job).where(
        *_batch_queue(utcnow()), Job.tenant_id == tenant, Job.dispatched_at.is_not(None))).scalar_one()
    return max(0, window - out)


def top_up(engine: Engine, window: int) -> list[tuple[str, str]]:
    """Mark the jobs that refill every tenant's window dispatched; returns (job id, queue)
    pairs to publish, the tenants interleaved. One grouped count, then per tenant with room
    one select and one update."""
    now = utcnow()
    with Session(engine) as s:
        # count(dispatched_at) counts the non-NULL ones: the messages out.
        counts = {tenant: (out, total - out) for tenant, out, total in s.execute(
            select(Job.tenant_id, func.count(Job.dispatched_at), func.count())
            .where(*_batch_queue(now)).group_by(Job.tenant_id)).all()}
        groups: list[list[str]] = []
        for tenant, n in sorted(plan(window, counts).items()):
            ids = list(s.execute(select(Job.id).where(
                *_batch_queue(now), Job.tenant_id == tenant, Job.dispatched_at.is_(None))
                .order_by(Job.id).limit(n)).scalars())
            # Guarded: a job cancelled, or published by an overlapping pass, meanwhile is left.
            marked = set(s.execute(update(Job).where(
                Job.id.in_(ids), and_(Job.status == JobStatus.QUEUED, Job.dispatched_at.is_(None)))
                .values(dispatched_at=now).returning(Job.id)).scalars())
            groups.append([job_id for job_id in ids if job_id in marked])
        s.commit()
    return [(job_id, str(Priority.BATCH)) for job_id in interleave(groups)]

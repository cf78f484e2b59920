"""Erasing a finished job's data: on request (DELETE /v1/jobs/{id}) and after the
retention period (PROMPTQ_RETENTION_DAYS, swept by the relay).

What goes: the input (text and messages), result, metadata, error message (it may quote
the input), split progress, and the payloads of the job's webhooks (each holds the job
object, result and metadata included); a webhook not delivered yet is given up. What
stays: the row with its ids, status, usage and timestamps, and the ledger (ids and
token counts only), so that bills still add up.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, func, select, update
from sqlalchemy.engine import Connection, Engine

from promptq.store import clock
from promptq.store.models import Job, WebhookDelivery
from promptq.store.status import TERMINAL, DeliveryStatus

JOBS = Job.__table__
_DELIVERIES = WebhookDelivery.__table__
# input_text is NOT NULL (the claim reads it): the empty string stands for "erased".
_ERASED = {"input_text": "", "input_messages": None, "result": None, "metadata": None,
           "error_message": None, "progress": None}


def erase_job(engine: Engine, job_id: str) -> bool:
    """Erase one finished job's data; False when the job is not finished (queued or
    running: its input is still needed). Erasing twice is harmless."""
    with engine.begin() as conn:
        erased = _erase(conn, [job_id], clock.now(conn))
    return bool(erased)


def purge_expired(engine: Engine, *, retention_days: float, limit: int = 500) -> list[str]:
    """Erase up to `limit` jobs that finished more than `retention_days` ago (database
    time) and are not erased yet; their ids. Several calls make up a large backlog."""
    with engine.begin() as conn:
        now = clock.now(conn)
        ids = list(conn.execute(
            select(JOBS.c.id).where(JOBS.c.erased_at.is_(None),
                                    JOBS.c.finished_at < now - timedelta(days=retention_days),
                                    JOBS.c.status.in_(TERMINAL))
            .order_by(JOBS.c.finished_at).limit(limit)).scalars())
        return _erase(conn, ids, now) if ids else []


def _erase(conn: Connection, job_ids: Sequence[str], now: datetime) -> list[str]:
    """Erase those of `job_ids` that are finished, and their webhooks' payloads."""
    erased = list(conn.execute(
        update(JOBS).where(JOBS.c.id.in_(job_ids), JOBS.c.status.in_(TERMINAL))
        .values(**_ERASED, erased_at=func.coalesce(JOBS.c.erased_at, now)).returning(JOBS.c.id)).scalars())
    if erased:
        mine = _DELIVERIES.c.object_id.in_(erased)
        conn.execute(update(_DELIVERIES).where(and_(mine, _DELIVERIES.c.status == DeliveryStatus.PENDING))
                     .values(status=DeliveryStatus.FAILED, next_attempt_at=None, dispatched_at=None))
        conn.execute(update(_DELIVERIES).where(mine).values(payload=""))
    return erased


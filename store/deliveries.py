"""Webhook deliveries as rows (an outbox): enqueue events, find the ones to publish again."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import and_, bindparam, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from promptq.store import clock
from promptq.store.engine import autocommit
from promptq.store.models import JobRow, Tenant, WebhookAttempt, WebhookDelivery, new_id, utcnow
from promptq.store.public import JobPublic
from promptq.store.status import DeliveryStatus

log = logging.getLogger(__name__)
_DELIVERIES = WebhookDelivery.__table__
_INSERT = insert(_DELIVERIES)  # built once: see store/jobs.py
_INSERT_ATTEMPT = insert(WebhookAttempt.__table__)
_RECORD = update(_DELIVERIES).where(_DELIVERIES.c.id == bindparam("p_id")).values(
    attempts=bindparam("p_attempts"), status=bindparam("p_status", type_=_DELIVERIES.c.status.type),
    delivered_at=bindparam("p_delivered_at", type_=_DELIVERIES.c.delivered_at.type),
    next_attempt_at=bindparam("p_next_attempt_at", type_=_DELIVERIES.c.next_attempt_at.type),
    dispatched_at=None, lease_until=None)


_TAKE = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id == bindparam("p_id"), _DELIVERIES.c.status == DeliveryStatus.PENDING,
           or_(_DELIVERIES.c.lease_until.is_(None), _DELIVERIES.c.lease_until < clock.db_time(0)))
    # on the database's clock, as job leases (store/clock.py)
    .values(attempts=_DELIVERIES.c.attempts + 1, lease_until=clock.db_time(clock.seconds_param("p_lease_s")))
    .returning(_DELIVERIES.c.tenant_id, _DELIVERIES.c.url, _DELIVERIES.c.payload, _DELIVERIES.c.attempts)
)
_TENANTS = Tenant.__table__
_SECRET = select(_TENANTS.c.webhook_secret, _TENANTS.c.previous_webhook_secret,
                 _TENANTS.c.webhook_secret_rotated_at).where(_TENANTS.c.id == bindparam("p_tenant"))
_PEEK = select(_DELIVERIES.c.tenant_id, _DELIVERIES.c.url).where(
    _DELIVERIES.c.id == bindparam("p_id"), _DELIVERIES.c.status == DeliveryStatus.PENDING)


def take(engine: Engine, delivery_id: str, lease_s: float) -> tuple[NewDelivery, int] | None:
    """Take a pending delivery for `lease_s` seconds (a duplicate message finds it taken
    and makes no concurrent POST): the delivery and the number of this attempt. None:
    delivered, given up, or taken by another."""
    with autocommit(engine).connect() as conn:
        row = conn.execute(_TAKE, {"p_id": delivery_id, "p_lease_s": lease_s}).first()
    if row is None:
        return None
    tenant_id, url, payload, number = row
    return NewDelivery(delivery_id, tenant_id, url, payload), number


def rotate_secret(session: Session, tenant_id: str, new_secret: str) -> datetime | None:
    """Make `new_secret` the tenant's, the current one its previous (one statement: two
    rotations at once each keep a secret that was current); when it was rotated, or
    None for an unknown tenant."""
    now = utcnow()
    done = session.execute(update(_TENANTS).where(_TENANTS.c.id == tenant_id).values(
        previous_webhook_secret=_TENANTS.c.webhook_secret, webhook_secret=new_secret,
        webhook_secret_rotated_at=now))
    session.commit()
    return now if done.rowcount else None


def peek(engine: Engine, delivery_id: str) -> tuple[str, str] | None:
    """(tenant, url) of a pending delivery, without taking it: where its attempt will go."""
    with engine.connect() as conn:
        row = conn.execute(_PEEK, {"p_id": delivery_id}).first()
    return None if row is None else (row[0], row[1])


class TenantSecrets(NamedTuple):
    current: str
    previous: str | None  # before the last rotation
    rotated_at: datetime | None


def tenant_secrets(engine: Engine, tenant_id: str) -> TenantSecrets | None:
    """The tenant's webhook signing secret, and the one before its last rotation."""
    with engine.connect() as conn:
        row = conn.execute(_SECRET, {"p_tenant": tenant_id}).first()
    return None if row is None else TenantSecrets(*row)


@dataclass(frozen=True)
class AttemptRecord:
    """One POST of a delivery and the state it leaves the delivery in."""

    delivery_id: str
    attempt: int  # 1 for the first
    at: datetime
    status_code: int | None
    error: str | None
    latency_ms: int
    status: DeliveryStatus
    next_attempt_at: datetime | None  # a retry parked until then (PENDING only)


def record_attempts(engine: Engine, records: Sequence[AttemptRecord]) -> None:
    """The attempts' rows and their deliveries' new state, all in one transaction."""
    if not records:
        return
    with engine.begin() as conn:
        conn.execute(_INSERT_ATTEMPT, [
            {"delivery_id": r.delivery_id, "attempt": r.attempt, "created_at": r.at,
             "status_code": r.status_code, "error": r.error, "latency_ms": r.latency_ms} for r in records])
        conn.execute(_RECORD, [
            {"p_id": r.delivery_id, "p_attempts": r.attempt, "p_status": r.status,
             "p_delivered_at": r.at if r.status is DeliveryStatus.DELIVERED else None,
             "p_next_attempt_at": r.next_attempt_at} for r in records])


def event_body(event_type: str, data: dict[str, Any]) -> str:
    """The exact bytes that are signed and sent: {"type", "timestamp", "data"}."""
    return json.dumps({"type": event_type,
                       "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                       "data": data}, separators=(",", ":"), default=str)


class NewDelivery(NamedTuple):
    """A delivery just stored: what its first attempt needs, without reading it back."""

    id: str  # the webhook-id of every attempt
    tenant_id: str
    url: str
    payload: str  # the exact signed body


def enqueue_job_events(conn: Connection, jobs: Sequence[JobRow], *, lenient: Set[str] = frozenset(),
                       dispatched: bool = True) -> dict[str, list[NewDelivery]]:
    """The `job.<status>` webhooks of jobs that just became terminal, by job id (jobs
    without a URL have none), in one INSERT. A job in `lenient` whose body cannot be
    built gets one without its metadata and result, or else none (logged by id); any
    other such job raises. `dispatched`: its first attempt is made by the caller (else
    the relay publishes it)."""
    events = []
    for job in jobs:
        if job.webhook_url:
            data = _job_data(job) if job.id not in lenient else _lenient_job_data(job)
            if data is not None:
                events.append((job, data))
    made = enqueue(conn, [(job.tenant_id, job.webhook_url, f"job.{job.status}", body) for job, body in events],
                   dispatched=dispatched, built=True, object_ids=[job.id for job, _ in events])
    return {job.id: [delivery] for (job, _), delivery in zip(events, made)}


def _job_data(job: JobRow, *, bare: bool = False) -> str:
    """A job event's signed body; `bare`: without the caller's metadata and the result."""
    public = JobPublic.of(job)
    if bare:
        public = public.model_copy(update={"metadata": None, "result": None})
    return event_body(f"job.{job.status}", public.model_dump(mode="json"))


def _lenient_job_data(job: JobRow) -> str | None:
    for bare in (False, True):
        try:
            return _job_data(job, bare=bare)
        except Exception as exc:  # a body that cannot be built must not stop a lenient finish
            log.warning("job %s: its %s webhook body cannot be built (%s)%s", job.id, job.status,
                        type(exc).__name__, "; sent without metadata and result" if not bare else "")
    log.error("job %s: no %s webhook is sent: its body cannot be built", job.id, job.status)
    return None


def enqueue(session: Session | Connection, events: Iterable[tuple[str, str, str, Any]], *,
            dispatched: bool = True, built: bool = False,
            object_ids: Sequence[str | None] | None = None) -> list[NewDelivery]:
    """Store (tenant, url, type, data) events in the caller's transaction; `built`: each
    data is already the body (`event_body`), and `object_ids` name the job or batch of
    each (else its data's `id`)."""
    now = utcnow()
    events = list(events)
    ids = object_ids if object_ids is not None else [None if built else data.get("id") for *_, data in events]
    rows = [{"id": new_id("msg"), "tenant_id": tenant, "url": url, "event_type": event_type,
             "payload": data if built else event_body(event_type, data), "object_id": object_id,
             "status": DeliveryStatus.PENDING, "attempts": 0,
             "dispatched_at": now if dispatched else None, "created_at": now}
            for (tenant, url, event_type, data), object_id in zip(events, ids, strict=True)]
    if rows:
        session.execute(_INSERT, rows)
    return [NewDelivery(r["id"], r["tenant_id"], r["url"], r["payload"]) for r in rows]


def mark_dispatched(engine: Engine, delivery_id: str) -> None:
    with Session(engine, expire_on_commit=False) as s:
        s.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
                  .values(dispatched_at=utcnow()))
        s.commit()


def due_for_relay(engine: Engine, *, now: datetime, stale_s: float, limit: int = 1000) -> list[str]:
    """Pending deliveries to publish again: parked ones now due, and lost messages;
    `now`: the database's time (store/clock.py)."""
    stale = now - timedelta(seconds=stale_s)
    with Session(engine, expire_on_commit=False) as s:
        ids = list(s.execute(select(WebhookDelivery.id).where(
            WebhookDelivery.status == DeliveryStatus.PENDING,
            or_(and_(WebhookDelivery.dispatched_at.is_(None),
                     or_(WebhookDelivery.next_attempt_at.is_(None),
                         WebhookDelivery.next_attempt_at <= now)),
                and_(WebhookDelivery.dispatched_at < stale,
                     or_(WebhookDelivery.next_attempt_at.is_(None),
                         WebhookDelivery.next_attempt_at < stale))),
        ).limit(limit)).scalars())
        if ids:
            s.execute(update(WebhookDelivery).where(WebhookDelivery.id.in_(ids))
                      .values(dispatched_at=now))
        s.commit()
        return ids

"""One attempt of a webhook delivery: claim it, POST it signed, record it, say when to retry."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from time import monotonic
from typing import Any

import requests
from sqlalchemy import insert, or_, select, update
from sqlalchemy.engine import Engine

from promptq.dispatch import publish_delivery
from promptq.store.deliveries import mark_dispatched
from promptq.store.models import Tenant, WebhookAttempt, WebhookDelivery, utcnow
from promptq.store.status import DeliveryStatus
from promptq.workers.runtime import Runtime
from promptq.workers.webhooks import schedule
from promptq.workers.webhooks.sender import post


@dataclass(frozen=True)
class AttemptOutcome:
    delivered: bool
    retry_in_s: float | None  # None: delivered, given up, or not ours to attempt


DELIVERIES = WebhookDelivery.__table__
ATTEMPTS = WebhookAttempt.__table__
SECRET_CACHE_S = 60.0  # a rotated secret is used within a minute
_secrets: dict[str, tuple[float, str]] = {}


def _secret(engine: Engine, tenant_id: str) -> str | None:
    cached = _secrets.get(tenant_id)
    if cached is not None and monotonic() - cached[0] < SECRET_CACHE_S:
        return cached[1]
    with engine.connect() as conn:
        secret = conn.execute(select(Tenant.__table__.c.webhook_secret)
                              .where(Tenant.__table__.c.id == tenant_id)).scalar()
    if secret is not None:
        _secrets[tenant_id] = (monotonic(), secret)
    return secret


def attempt(engine: Engine, delivery_id: str, *, allowed_hosts: list[str], timeout_s: float,
            session: requests.Session | None = None) -> AttemptOutcome:
    """Make the next attempt of a pending delivery, record it, and say when to retry."""
    now = utcnow()
    with engine.begin() as conn:
        # Take the delivery for the time one attempt may last: a duplicate message
        # finds it taken and makes no concurrent POST.
        row = conn.execute(
            update(DELIVERIES)
            .where(DELIVERIES.c.id == delivery_id, DELIVERIES.c.status == DeliveryStatus.PENDING,
                   or_(DELIVERIES.c.lease_until.is_(None), DELIVERIES.c.lease_until < now))
            .values(attempts=DELIVERIES.c.attempts + 1, lease_until=now + timedelta(seconds=2 * timeout_s + 5))
            .returning(DELIVERIES.c.url, DELIVERIES.c.payload, DELIVERIES.c.tenant_id, DELIVERIES.c.attempts)
        ).first()
    if row is None:
        return AttemptOutcome(False, None)
    url, payload, tenant_id, number = row
    secret = _secret(engine, tenant_id)
    if secret is None:
        return AttemptOutcome(False, None)
    result = post(url, secret, delivery_id, payload, allowed_hosts=allowed_hosts, timeout_s=timeout_s,
                  session=session)
    wait = None if result.delivered else schedule.next_wait_s(number, random.random())
    values: dict[str, Any] = {"lease_until": None}
    if result.delivered:
        values |= {"status": DeliveryStatus.DELIVERED, "delivered_at": utcnow(), "next_attempt_at": None}
    elif wait is None:
        values |= {"status": DeliveryStatus.FAILED, "next_attempt_at": None}
    else:
        values |= {"next_attempt_at": utcnow() + timedelta(seconds=wait), "dispatched_at": None}
    with engine.begin() as conn:
        conn.execute(insert(ATTEMPTS).values(delivery_id=delivery_id, attempt=number, created_at=utcnow(),
                                             status_code=result.status_code, error=result.error,
                                             latency_ms=result.latency_ms))
        conn.execute(update(DELIVERIES).where(DELIVERIES.c.id == delivery_id).values(**values))
    return AttemptOutcome(result.delivered, wait)


def schedule_retry(rt: Runtime, delivery_id: str, outcome: AttemptOutcome) -> None:
    """A short wait rides a countdown message; a long one stays parked for the relay."""
    if outcome.retry_in_s is not None and outcome.retry_in_s <= rt.settings.max_countdown_s:
        mark_dispatched(rt.engine, delivery_id)
        publish_delivery(rt.settings.redis_url, delivery_id, countdown=outcome.retry_in_s)


def deliver_now_or_queue(rt: Runtime, delivery_id: str) -> None:
    """The first attempt, inline with a short deadline (one broker message fewer per job);
    the webhooks queue takes it when inline delivery is off, and carries the retries."""
    settings = rt.settings
    if settings.webhook_inline_timeout_s <= 0:
        publish_delivery(settings.redis_url, delivery_id)
        return
    outcome = attempt(rt.engine, delivery_id, allowed_hosts=settings.webhook_allowed_hosts,
                      timeout_s=settings.webhook_inline_timeout_s, session=rt.http)
    schedule_retry(rt, delivery_id, outcome)

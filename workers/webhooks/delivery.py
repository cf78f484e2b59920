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

from promptq.store.models import Tenant, WebhookAttempt, WebhookDelivery, utcnow
from promptq.store.status import DeliveryStatus
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

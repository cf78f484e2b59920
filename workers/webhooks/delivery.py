"""One attempt of a webhook delivery: claim it, POST it signed, record it, say when to retry."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import requests
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from promptq.store.models import Tenant, WebhookAttempt, WebhookDelivery, utcnow
from promptq.store.status import DeliveryStatus
from promptq.workers.webhooks import schedule
from promptq.workers.webhooks.sender import post


@dataclass(frozen=True)
class AttemptOutcome:
    delivered: bool
    retry_in_s: float | None  # None: delivered, given up, or not ours to attempt


def attempt(engine: Engine, delivery_id: str, *, allowed_hosts: list[str], timeout_s: float,
            session: requests.Session | None = None) -> AttemptOutcome:
    """Make the next attempt of a pending delivery, record it, and say when to retry."""
    with Session(engine, expire_on_commit=False) as s:
        delivery = s.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.status != DeliveryStatus.PENDING:
            return AttemptOutcome(False, None)
        tenant = s.get(Tenant, delivery.tenant_id)
        # Compare-and-set on `attempts`: a duplicate message cannot make a second
        # attempt with the same number.
        taken = s.execute(update(WebhookDelivery)
                          .where(WebhookDelivery.id == delivery_id,
                                 WebhookDelivery.attempts == delivery.attempts,
                                 WebhookDelivery.status == DeliveryStatus.PENDING)
                          .values(attempts=delivery.attempts + 1)).rowcount
        s.commit()
        if taken != 1 or tenant is None:
            return AttemptOutcome(False, None)
    number = delivery.attempts + 1
    result = post(delivery.url, tenant.webhook_secret, delivery.id, delivery.payload,
                  allowed_hosts=allowed_hosts, timeout_s=timeout_s, session=session)
    wait = None if result.delivered else schedule.next_wait_s(number, random.random())
    with Session(engine, expire_on_commit=False) as s:
        s.add(WebhookAttempt(delivery_id=delivery_id, attempt=number, status_code=result.status_code,
                             error=result.error, latency_ms=result.latency_ms))
        values: dict[str, Any]
        if result.delivered:
            values = {"status": DeliveryStatus.DELIVERED, "delivered_at": utcnow(), "next_attempt_at": None}
        elif wait is None:
            values = {"status": DeliveryStatus.FAILED, "next_attempt_at": None}
        else:
            values = {"next_attempt_at": utcnow() + timedelta(seconds=wait), "dispatched_at": None}
        s.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(**values))
        s.commit()
    return AttemptOutcome(result.delivered, wait)



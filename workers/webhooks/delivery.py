"""One attempt of a webhook delivery: claim it, POST it signed, record it, say when to retry."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from time import monotonic

from sqlalchemy.engine import Engine

from promptq.dispatch import publish_delivery
from promptq.store.deliveries import (AttemptRecord, NewDelivery, mark_dispatched, record_attempts, take,
                                      tenant_secret)
from promptq.store.models import utcnow
from promptq.store.status import DeliveryStatus
from promptq.workers.runtime import Runtime
from promptq.workers.webhooks import schedule
from promptq.workers.webhooks.records import DeliveredLog
from promptq.workers.webhooks.sender import WebhookClient, post


@dataclass(frozen=True)
class AttemptOutcome:
    delivered: bool
    retry_in_s: float | None  # None: delivered, given up, or not ours to attempt


SECRET_CACHE_S = 60.0  # a rotated secret is used within a minute
_secrets: dict[str, tuple[float, str]] = {}


def _secret(engine: Engine, tenant_id: str) -> str | None:
    cached = _secrets.get(tenant_id)
    if cached is not None and monotonic() - cached[0] < SECRET_CACHE_S:
        return cached[1]
    secret = tenant_secret(engine, tenant_id)
    if secret is not None:
        _secrets[tenant_id] = (monotonic(), secret)
    return secret


def attempt(engine: Engine, delivery_id: str, *, allowed_hosts: list[str], timeout_s: float,
            client: WebhookClient, delivered_log: DeliveredLog | None = None,
            ) -> AttemptOutcome:
    """Make the next attempt of a pending delivery, record it, and say when to retry.
    `delivered_log`: where a successful attempt is recorded (None: at once)."""
    taken = take(engine, delivery_id, lease_s=2 * timeout_s + 5)  # the time one attempt may last
    if taken is None:
        return AttemptOutcome(False, None)
    delivery, number = taken
    return _post_and_record(engine, delivery, number, allowed_hosts=allowed_hosts, timeout_s=timeout_s,
                            client=client, delivered_log=delivered_log)


def first_attempt(engine: Engine, delivery: NewDelivery, *, allowed_hosts: list[str], timeout_s: float,
                  client: WebhookClient, delivered_log: DeliveredLog | None = None,
                  ) -> AttemptOutcome:
    """The first attempt of a delivery this process stored a moment ago. Nothing else
    sends it meanwhile (no message carries it; the relay waits `relay_stale_s`, far
    longer than `timeout_s`), so it is not taken first: one statement fewer."""
    return _post_and_record(engine, delivery, 1, allowed_hosts=allowed_hosts, timeout_s=timeout_s,
                            client=client, delivered_log=delivered_log)


def _post_and_record(engine: Engine, delivery: NewDelivery, number: int, *, allowed_hosts: list[str],
                     timeout_s: float, client: WebhookClient,
                     delivered_log: DeliveredLog | None) -> AttemptOutcome:
    secret = _secret(engine, delivery.tenant_id)
    if secret is None:
        return AttemptOutcome(False, None)
    result = post(delivery.url, secret, delivery.id, delivery.payload, allowed_hosts=allowed_hosts,
                  timeout_s=timeout_s, client=client)
    wait = None if result.delivered else schedule.next_wait_s(number, random.random())
    now = utcnow()
    record = AttemptRecord(
        delivery.id, number, now, result.status_code, result.error, result.latency_ms,
        status=(DeliveryStatus.DELIVERED if result.delivered
                else DeliveryStatus.FAILED if wait is None else DeliveryStatus.PENDING),
        # a retry is parked until then; schedule_retry publishes a short one at once
        next_attempt_at=now + timedelta(seconds=wait) if wait is not None else None)
    if result.delivered and delivered_log is not None:
        delivered_log.add(record)
    else:
        record_attempts(engine, [record])
    return AttemptOutcome(result.delivered, wait)


def schedule_retry(rt: Runtime, delivery_id: str, outcome: AttemptOutcome) -> None:
    """A short wait rides a countdown message; a long one stays parked for the relay."""
    if outcome.retry_in_s is not None and outcome.retry_in_s <= rt.settings.max_countdown_s:
        mark_dispatched(rt.engine, delivery_id)
        publish_delivery(rt.settings.redis_url, delivery_id, countdown=outcome.retry_in_s)


def deliver_now_or_queue(rt: Runtime, delivery: NewDelivery) -> None:
    """The first attempt, inline with a short deadline (one broker message fewer per job);
    the webhooks queue takes it when inline delivery is off, and carries the retries."""
    settings = rt.settings
    if settings.webhook_inline_timeout_s <= 0:
        publish_delivery(settings.redis_url, delivery.id)
        return
    outcome = first_attempt(rt.engine, delivery, allowed_hosts=settings.webhook_allowed_hosts,
                            timeout_s=settings.webhook_inline_timeout_s, client=rt.webhook_client,
                            delivered_log=rt.delivered_log)
    schedule_retry(rt, delivery.id, outcome)

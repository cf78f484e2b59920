"""Webhook attempts of a worker process, made on one event loop thread of their own.

No pool thread ever waits on a receiver: the job's thread hands the first attempt to
the loop after the finish commit, and the `deliver_webhook` task hands a retry to it
and returns. On the loop each attempt waits for a place (per tenant, per destination
host:port, and in total), then takes the delivery's lease, POSTs it under one
wall-clock deadline and records it; blocking store calls run on a few threads of the
loop's own. A delivery still waiting when the process dies is a pending row: the relay
publishes it again after `relay_stale_s`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from time import monotonic
from typing import TypeVar
from urllib.parse import urlsplit

from sqlalchemy.engine import Engine

from promptq.dispatch import publish_delivery
from promptq.settings import Settings
from promptq.store.deliveries import (AttemptRecord, NewDelivery, TenantSecrets, mark_dispatched, peek,
                                      record_attempts, take, tenant_secrets)
from promptq.store.models import utcnow
from promptq.store.status import DeliveryStatus
from promptq.webhook_secrets import signing_secrets
from promptq.workers.webhooks import schedule
from promptq.workers.webhooks.limits import KeyedLimit
from promptq.workers.webhooks.records import DeliveredLog
from promptq.workers.webhooks.sender import WebhookClient, post

log = logging.getLogger(__name__)
T = TypeVar("T")
STORE_THREADS = 4  # the loop's blocking store calls (take, record a failure, publish a retry)
SECRET_CACHE_S = 60.0  # a rotated secret signs every delivery within a minute
_secrets: dict[str, tuple[float, TenantSecrets]] = {}


@dataclass(frozen=True)
class AttemptOutcome:
    delivered: bool
    retry_in_s: float | None  # None: delivered, given up, or not ours to attempt


def destination(url: str) -> str:
    """What the per-destination limit counts: host:port of the URL."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{(parts.hostname or '').lower()}:{port or (443 if parts.scheme == 'https' else 80)}"


def _secrets_of(engine: Engine, tenant_id: str) -> TenantSecrets | None:
    cached = _secrets.get(tenant_id)
    if cached is not None and monotonic() - cached[0] < SECRET_CACHE_S:
        return cached[1]
    found = tenant_secrets(engine, tenant_id)
    if found is not None:
        _secrets[tenant_id] = (monotonic(), found)
    return found


@dataclass(frozen=True)
class _Work:
    delivery_id: str
    first: NewDelivery | None  # the first attempt of a delivery this process just stored
    handed_at: float  # monotonic


class Deliverer:
    """The worker process's webhook attempts (see the module's docstring); `first_attempt`
    and `retry` are thread-safe and never block."""

    def __init__(self, engine: Engine, settings: Settings, delivered_log: DeliveredLog | None, *,
                 client: WebhookClient | None = None) -> None:
        self._engine = engine
        self._settings = settings
        self._delivered_log = delivered_log
        self._client = client or WebhookClient(connections_per_target=settings.webhook_max_per_host)
        self._hosts = KeyedLimit(settings.webhook_max_per_host)
        self._tenants = KeyedLimit(settings.webhook_max_per_tenant)
        self._in_flight = asyncio.Semaphore(settings.webhook_max_in_flight)
        self._ids: set[str] = set()  # handed and not done; the loop's thread only
        self._tasks: set[asyncio.Task[None]] = set()
        self.dropped = 0  # handed beyond webhook_max_queued: left to the relay
        self._store = ThreadPoolExecutor(STORE_THREADS, thread_name_prefix="promptq-webhook-store")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="promptq-webhooks", daemon=True)
        self._thread.start()

    def first_attempt(self, delivery: NewDelivery) -> None:
        self._hand(_Work(delivery.id, delivery, monotonic()))

    def retry(self, delivery_id: str) -> None:
        self._hand(_Work(delivery_id, None, monotonic()))

    def pending(self) -> int:
        """Deliveries handed to this process and not done (waiting or under way)."""
        return len(self._ids)

    def _hand(self, work: _Work) -> None:
        try:
            self._loop.call_soon_threadsafe(self._start, work)
        except RuntimeError:  # stopped: the row stays pending for the relay
            pass

    def _start(self, work: _Work) -> None:
        if work.delivery_id in self._ids:
            return  # already waiting here (the relay published it again)
        if len(self._ids) >= self._settings.webhook_max_queued:
            self.dropped += 1
            log.warning("webhook delivery %s left to the relay: %d deliveries wait in this process",
                        work.delivery_id, len(self._ids))
            return
        self._ids.add(work.delivery_id)
        task = self._loop.create_task(self._deliver(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _in_store(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        return await self._loop.run_in_executor(self._store, lambda: fn(*args, **kwargs))

    async def _deliver(self, work: _Work) -> None:
        try:
            if work.first is not None:
                tenant, url = work.first.tenant_id, work.first.url
            else:
                found = await self._in_store(peek, self._engine, work.delivery_id)
                if found is None:
                    return  # delivered or given up meanwhile
                tenant, url = found
            async with self._tenants.slot(tenant), self._hosts.slot(destination(url)), self._in_flight:
                outcome = await self._attempt(work)
            if outcome.retry_in_s is not None and outcome.retry_in_s <= self._settings.max_countdown_s:
                await self._in_store(_publish_retry, self._engine, self._settings.redis_url,
                                     work.delivery_id, outcome.retry_in_s)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("webhook delivery %s: attempt failed; the relay publishes it again", work.delivery_id)
        finally:
            self._ids.discard(work.delivery_id)

    async def _attempt(self, work: _Work) -> AttemptOutcome:
        settings = self._settings
        first_fresh = (work.first is not None
                       and monotonic() - work.handed_at < settings.relay_stale_s / 2)
        timeout_s = settings.webhook_inline_timeout_s if work.first is not None else settings.webhook_timeout_s
        if first_fresh:
            # Nothing else sends it yet (no message carries it; the relay waits
            # `relay_stale_s`): it is not taken first, one statement fewer.
            delivery, number = work.first, 1
        else:
            taken = await self._in_store(take, self._engine, work.delivery_id, lease_s=timeout_s + 5)
            if taken is None:
                return AttemptOutcome(False, None)
            delivery, number = taken
        assert delivery is not None
        secrets = _secrets.get(delivery.tenant_id)
        found = (secrets[1] if secrets is not None and monotonic() - secrets[0] < SECRET_CACHE_S
                 else await self._in_store(_secrets_of, self._engine, delivery.tenant_id))
        if found is None:
            return AttemptOutcome(False, None)
        result = await post(delivery.url, signing_secrets(*found, utcnow()), delivery.id, delivery.payload,
                            allowed_hosts=settings.webhook_allowed_hosts, timeout_s=timeout_s,
                            client=self._client)
        wait = None if result.delivered else schedule.next_wait_s(number, random.random())
        now = utcnow()
        record = AttemptRecord(
            delivery.id, number, now, result.status_code, result.error, result.latency_ms,
            status=(DeliveryStatus.DELIVERED if result.delivered
                    else DeliveryStatus.FAILED if wait is None else DeliveryStatus.PENDING),
            # a retry is parked until then; a short one is published at once with a countdown
            next_attempt_at=now + timedelta(seconds=wait) if wait is not None else None)
        if result.delivered and self._delivered_log is not None:
            self._delivered_log.add(record)
        else:
            await self._in_store(record_attempts, self._engine, [record])
        return AttemptOutcome(result.delivered, wait)

    def stop(self, grace_s: float = 5.0) -> None:
        """Let attempts under way finish for up to `grace_s`, cancel the rest (their rows
        stay pending: the relay publishes them again) and stop the loop's thread."""
        if not self._thread.is_alive():
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(grace_s), self._loop).result(grace_s + 5)
        except Exception:
            log.exception("stopping the webhook loop")
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._store.shutdown(wait=True, cancel_futures=True)

    async def _shutdown(self, grace_s: float) -> None:
        tasks = set(self._tasks)
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=grace_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        await self._client.aclose()


def _publish_retry(engine: Engine, redis_url: str, delivery_id: str, countdown_s: float) -> None:
    """A short wait rides a countdown message; a long one stays parked for the relay."""
    mark_dispatched(engine, delivery_id)
    publish_delivery(redis_url, delivery_id, countdown=countdown_s)


def deliver_now_or_queue(deliverer: Deliverer, settings: Settings, delivery: NewDelivery) -> None:
    """Hand the first attempt to the process's webhook loop (never waits on the receiver);
    the webhooks queue takes it when inline delivery is off, and carries the retries."""
    if settings.webhook_inline_timeout_s <= 0:
        publish_delivery(settings.redis_url, delivery.id)
        return
    deliverer.first_attempt(delivery)

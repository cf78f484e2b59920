"""Turning accepted requests into job rows and broker messages.

Rows are committed first, then published: a message that never leaves (the API
dies in between) is re-published by the relay, so no job is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, update
from sqlmodel import Session, select

from promptq import batch_progress, dispatch, holds
from promptq.api.errors import APIError
from promptq.prompts.registry import Task, UnknownTask, get_task
from promptq.settings import Settings
from promptq.store import deliveries
from promptq.store.models import Batch, Job, new_id, utcnow
from promptq.store.public import JobPublic
from promptq.store.status import JobStatus, Priority
from promptq.webhook_policy import UnsafeWebhookURL, check_url

log = logging.getLogger(__name__)


def resolve_task(name: str) -> Task:
    try:
        return get_task(name)
    except UnknownTask as exc:
        raise APIError(422, str(exc), "unknown_task") from None


def checked_webhook_url(url: str | None, settings: Settings) -> str | None:
    if url is None:
        return None
    try:
        check_url(url, settings.webhook_allowed_hosts)
    except UnsafeWebhookURL as exc:
        raise APIError(422, str(exc), "invalid_webhook_url") from None
    return url


def check_text(text: str, settings: Settings, where: str = "input.text") -> None:
    if len(text) > settings.max_document_chars:
        raise APIError(413, f"{where} has {len(text)} characters; the limit is {settings.max_document_chars}")


def job_row(*, tenant: str, task: Task, text: str, priority: Priority, webhook_url: str | None,
            metadata: dict[str, Any] | None, batch_id: str | None = None,
            custom_id: str | None = None, idempotency_key: str | None = None,
            messages: list[dict[str, str]] | None = None) -> dict[str, Any]:
    now = utcnow()
    return {
        "id": new_id("job"), "tenant_id": tenant, "task": task.name, "status": JobStatus.QUEUED,
        "priority": priority, "batch_id": batch_id, "custom_id": custom_id,
        "idempotency_key": idempotency_key, "input_text": text, "input_messages": messages,
        "metadata_": metadata,
        "webhook_url": webhook_url, "prompt_version": task.version, "model": task.model,
        "created_at": now, "dispatched_at": now,
    }


def insert_jobs(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """One multi-row INSERT (executemany), however many documents."""
    session.execute(insert(Job), list(rows))


def publish(settings: Settings, jobs: Sequence[tuple[str, str]]) -> None:
    """Publish after commit; a failure here is logged and left to the relay."""
    try:
        dispatch.publish_jobs(settings.redis_url, jobs)
    except Exception:
        log.warning("publishing %d jobs failed; the relay will publish them", len(jobs), exc_info=True)


def publish_batch_queue(settings: Settings, tenant: str, job_ids: Sequence[str]) -> None:
    """Batch-queue jobs go onto their tenant's list, whence they reach the batch queue in
    turn with other tenants' (promptq/holds.py); a failure is left to the relay."""
    try:
        holds.publish(settings.redis_url, settings.redis_prefix, settings.batch_queue_depth, tenant, job_ids)
    except Exception:
        log.warning("publishing %d jobs failed; the relay will publish them", len(job_ids), exc_info=True)


def start_batch(settings: Settings, batch_id: str, tenant: str, job_ids: Sequence[str]) -> None:
    """Set the batch's countdown (promptq/batch_progress.py), then publish its jobs."""
    try:
        batch_progress.start(settings.redis_url, settings.redis_prefix, batch_id, len(job_ids))
    except Exception:  # a hint: without it every finishing job asks the store
        log.warning("could not set the countdown of batch %s", batch_id, exc_info=True)
    publish_batch_queue(settings, tenant, job_ids)


def cancel_open_jobs(session: Session, *conditions: Any) -> list[Job]:
    """Cancel unfinished jobs matching `conditions`; returns them, cancelled."""
    ids = list(session.execute(
        update(Job).where(Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)), *conditions)
        .values(status=JobStatus.CANCELLED, finished_at=utcnow(), claim_token=None, lease_until=None,
                progress=None)
        .returning(Job.id)).scalars())
    if not ids:
        return []
    return list(session.exec(select(Job).where(Job.id.in_(ids))))


def enqueue_cancel_webhooks(session: Session, cancelled: Sequence[Job]) -> list[str]:
    """The `job.cancelled` webhooks; returns their ids, to publish after the commit."""
    return [d.id for d in deliveries.enqueue(session, [
        (job.tenant_id, job.webhook_url, "job.cancelled", JobPublic.of(job).model_dump(mode="json"))
        for job in cancelled if job.webhook_url])]


def publish_deliveries(settings: Settings, ids: Sequence[str]) -> None:
    for delivery_id in ids:
        try:
            dispatch.publish_delivery(settings.redis_url, delivery_id)
        except Exception:
            log.warning("publishing delivery %s failed; the relay will publish it", delivery_id)


def batch_row(tenant: str, task: Task, total: int, webhook_url: str | None, priority: Priority) -> Batch:
    return Batch(id=new_id("batch"), tenant_id=tenant, task=task.name, total=total,
                 webhook_url=webhook_url, priority=priority)

"""Batches: thousands of documents in one request, polled as counts and cost."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query
from sqlalchemy import update
from sqlmodel import select

from promptq.api import submission
from promptq.api.deps import BatchDep, SessionDep, SettingsDep, TenantDep
from promptq.api.errors import APIError, documented
from promptq.api.schemas import BatchCreate, JobList
from promptq.api.storable import StorableStr
from promptq.store import deliveries
from promptq.store.batches import batch_public
from promptq.store.models import Batch, Job, utcnow
from promptq.store.public import BatchPublic, JobPublic
from promptq.store.status import BatchStatus, JobStatus, Priority

router = APIRouter(prefix="/v1/batches", tags=["batches"], responses=documented(401, 422, 503))


@router.post("", status_code=202, response_model=BatchPublic, responses=documented(400, 413))
def create_batch(body: BatchCreate, tenant: TenantDep, session: SessionDep, settings: SettingsDep,
                 background: BackgroundTasks) -> BatchPublic:
    """Queue every document in one transaction and one bulk publish."""
    if len(body.documents) > settings.max_batch_documents:
        raise APIError(413, f"a batch takes at most {settings.max_batch_documents} documents; "
                            f"this one has {len(body.documents)}")
    task = submission.resolve_task(body.task)
    webhook_url = submission.checked_webhook_url(body.webhook_url, settings)
    seen: set[str] = set()
    for i, doc in enumerate(body.documents):
        submission.check_text(doc.text, settings, where=f"documents[{i}].text")
        if doc.custom_id is not None:
            if doc.custom_id in seen:
                raise APIError(422, f"documents[{i}].custom_id {doc.custom_id!r} is repeated")
            seen.add(doc.custom_id)
    batch = submission.batch_row(tenant, task, len(body.documents), webhook_url, body.priority)
    session.add(batch)
    # Documents ride the batch queue whatever `priority` says: it cannot put 10,000 of
    # them in front of other tenants' single jobs.
    rows = [submission.job_row(tenant=tenant, task=task, text=doc.text, priority=Priority.BATCH,
                               webhook_url=webhook_url, metadata=doc.metadata, batch_id=batch.id,
                               custom_id=doc.custom_id)
            for doc in body.documents]
    submission.insert_jobs(session, rows)
    session.commit()
    background.add_task(submission.start_batch, settings, batch.id, tenant, [r["id"] for r in rows])
    return batch_public(session, batch)


@router.get("/{batch_id}", response_model=BatchPublic, responses=documented(404))
def get_batch(batch: BatchDep, session: SessionDep) -> BatchPublic:
    return batch_public(session, batch)


@router.get("/{batch_id}/jobs", response_model=JobList, responses=documented(404))
def list_batch_jobs(batch: BatchDep, session: SessionDep, settings: SettingsDep,
                    status: JobStatus | None = None,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                    after: StorableStr | None = None) -> JobList:
    """The batch's jobs in submission order; pass `next_after` as `after` for the next page."""
    query = select(Job).where(Job.batch_id == batch.id)
    if status is not None:
        query = query.where(Job.status == status)
    if after is not None:
        query = query.where(Job.id > after)
    page = list(session.exec(query.order_by(Job.id).limit(limit + 1)))
    has_more = len(page) > limit
    page = page[:limit]
    return JobList(data=[JobPublic.of(j) for j in page], has_more=has_more,
                   next_after=page[-1].id if has_more else None)


@router.post("/{batch_id}/cancel", response_model=BatchPublic, responses=documented(404, 409))
def cancel_batch(batch: BatchDep, session: SessionDep, settings: SettingsDep,
                 background: BackgroundTasks) -> BatchPublic:
    """Cancel the batch's unfinished jobs; finished ones keep their results."""
    if batch.status != BatchStatus.IN_PROGRESS:
        raise APIError(409, f"batch {batch.id} is already {batch.status}", "batch_finished")
    cancelled = submission.cancel_open_jobs(session, Job.batch_id == batch.id)
    moved = session.execute(update(Batch).where(Batch.id == batch.id,
                                                Batch.status == BatchStatus.IN_PROGRESS)
                            .values(status=BatchStatus.CANCELLED, finished_at=utcnow())).rowcount
    ids = submission.enqueue_cancel_webhooks(session, cancelled)
    session.commit()
    session.refresh(batch)
    public = batch_public(session, batch)
    if moved and batch.webhook_url:
        ids += [d.id for d in deliveries.enqueue(session, [
            (batch.tenant_id, batch.webhook_url, "batch.completed", public.model_dump(mode="json"))])]
        session.commit()
    background.add_task(submission.publish_deliveries, settings, ids)
    return public

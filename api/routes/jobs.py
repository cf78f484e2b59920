"""Single jobs: submit, poll, follow live, cancel, erase."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Annotated

import redis.asyncio as aioredis
from fastapi import APIRouter, BackgroundTasks, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from redis.exceptions import RedisError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from sse_starlette.sse import EventSourceResponse

from promptq import keys
from promptq.api import submission
from promptq.api.deps import JobDep, SessionDep, SettingsDep, TenantDep
from promptq.api.errors import APIError, documented
from promptq.api.schemas import JobCreate
from promptq.api.storable import StorableStr
from promptq.settings import Settings
from promptq.store import erase
from promptq.store.models import Job
from promptq.store.public import JobPublic
from promptq.store.status import JobStatus, Priority
from promptq.store.text import transcript

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=documented(401, 422, 503))


@router.post("", status_code=202, response_model=JobPublic, responses=documented(400, 409, 413))
def create_job(body: JobCreate, tenant: TenantDep, session: SessionDep, settings: SettingsDep,
               background: BackgroundTasks,
               idempotency_key: Annotated[StorableStr | None, Header(max_length=255)] = None) -> JobPublic:
    """Queue one document. A repeated `Idempotency-Key` returns the job it created first."""
    task = submission.resolve_task(body.task)
    messages = [m.model_dump() for m in body.input.messages] if body.input.messages else None
    text = body.input.text if messages is None else transcript(messages)
    submission.check_text(text, settings)
    webhook_url = submission.checked_webhook_url(body.webhook_url, settings)
    if idempotency_key:
        existing = _by_idempotency_key(session, tenant, idempotency_key)
        if existing is not None:
            return _same_request_or_409(existing, body.task, text)
    row = submission.job_row(tenant=tenant, task=task, text=text, priority=body.priority,
                             webhook_url=webhook_url, metadata=body.metadata,
                             idempotency_key=idempotency_key, messages=messages)
    try:
        submission.insert_jobs(session, [row])
        session.commit()
    except IntegrityError:
        # A concurrent request with the same key won the race: answer with its job.
        session.rollback()
        existing = _by_idempotency_key(session, tenant, idempotency_key or "")
        if existing is None:
            raise
        return _same_request_or_409(existing, body.task, text)
    if body.priority == Priority.BATCH:  # in turn with other tenants' (promptq/holds.py)
        background.add_task(submission.publish_batch_queue, settings, tenant, [row["id"]])
    else:
        background.add_task(submission.publish, settings, [(row["id"], str(body.priority))])
    job = session.get(Job, row["id"])
    assert job is not None
    return JobPublic.of(job)


def _by_idempotency_key(session: Session, tenant: str, key: str) -> Job | None:
    return session.exec(select(Job).where(Job.tenant_id == tenant, Job.idempotency_key == key)).first()


def _same_request_or_409(job: Job, task: str, text: str) -> JobPublic:
    if job.task != task or job.input_text != text:
        raise APIError(409, "this Idempotency-Key was used with a different request", "idempotency_conflict")
    return JobPublic.of(job)


@router.get("/{job_id}", response_model=JobPublic, responses=documented(404))
def get_job(job: JobDep) -> JobPublic:
    return JobPublic.of(job)


@router.post("/{job_id}/cancel", response_model=JobPublic, responses=documented(404, 409))
def cancel_job(job: JobDep, session: SessionDep, settings: SettingsDep,
               background: BackgroundTasks) -> JobPublic:
    """Cancel a job that has not finished; a finished job answers 409 and stays as it is."""
    cancelled = submission.cancel_open_jobs(session, Job.id == job.id)
    if not cancelled:
        session.refresh(job)
        raise APIError(409, f"job {job.id} already finished as {job.status}", "job_finished")
    ids = submission.enqueue_cancel_webhooks(session, cancelled)
    session.commit()
    background.add_task(submission.publish_deliveries, settings, ids)
    return JobPublic.of(cancelled[0])


@router.delete("/{job_id}", status_code=204, response_class=Response, responses=documented(404, 409))
async def delete_job(job: JobDep, request: Request) -> Response:
    """Erase a finished job's input, messages, result, metadata, error message, webhook
    payloads and live events; the job stays, with its status, usage and `erased_at`.
    A queued or running job answers 409 (cancel it first)."""
    if not await run_in_threadpool(erase.erase_job, request.app.state.engine, job.id):
        raise APIError(409, f"job {job.id} has not finished: cancel it first, or wait until it finishes",
                       "job_not_finished")
    # After the store: a failure here answers 503, and the DELETE can be repeated.
    await request.app.state.redis.delete(keys.job_events(request.app.state.settings.redis_prefix, job.id))
    log.info("job %s erased on request", job.id)
    return Response(status_code=204)


@router.get("/{job_id}/events", response_class=EventSourceResponse,
            responses={200: {"content": {"text/event-stream": {}}}, **documented(404, 429)})
async def job_events(job_id: StorableStr, request: Request, tenant: TenantDep) -> EventSourceResponse:
    """Server-Sent Events: the job's current status, then each change until it is terminal."""
    engine = request.app.state.engine

    def load() -> Job | None:
        with Session(engine, expire_on_commit=False) as s:
            found = s.get(Job, job_id)
            return found if found is not None and found.tenant_id == tenant else None

    job = await run_in_threadpool(load)
    if job is None:
        raise APIError(404, f"no job {job_id!r}")
    settings: Settings = request.app.state.settings
    state = request.app.state
    open_streams: Counter[str] = state.open_streams
    if open_streams[tenant] >= settings.max_event_streams_per_tenant:
        raise APIError(429, f"you have {settings.max_event_streams_per_tenant} event streams open on this "
                            "API process (PROMPTQ_MAX_EVENT_STREAMS_PER_TENANT): close one, poll the job, "
                            "or retry later", "too_many_streams")
    if open_streams.total() >= settings.max_event_streams:
        raise APIError(503, f"this API process has {settings.max_event_streams} event streams open "
                            "(PROMPTQ_MAX_EVENT_STREAMS): poll the job, or retry later", "too_many_streams")

    async def counted() -> AsyncIterator[dict[str, str]]:
        # Counted while it runs (one event loop: no lock); a few requests arriving together
        # may pass the check before any of them counts, which the Redis pool's headroom takes.
        open_streams[tenant] += 1
        try:
            async for event in _events(job_id, request, state.stream_redis, settings, load):
                yield event
        finally:
            open_streams[tenant] -= 1
            if not open_streams[tenant]:
                del open_streams[tenant]

    return EventSourceResponse(counted())


async def _events(job_id: str, request: Request, redis: aioredis.Redis, settings: Settings,
                  load: Callable[[], Job | None]) -> AsyncIterator[dict[str, str]]:
    """A snapshot of the job, then each change until it is terminal. Events are best
    effort: a job can finish without its terminal event (a worker died before writing it,
    Redis lost it or is away), so an idle wait, or Redis failing, asks the store."""
    # Read the stream position before the snapshot, so no change falls in between.
    key = keys.job_events(settings.redis_prefix, job_id)
    last_id = "0-0"
    snapshot = await run_in_threadpool(load)
    assert snapshot is not None
    yield {"event": "job", "data": JobPublic.of(snapshot).model_dump_json()}
    if snapshot.status.is_terminal:
        return
    while not await request.is_disconnected():
        try:
            entries = await redis.xread({key: last_id}, block=int(settings.event_ping_s * 1000), count=100)
        except RedisError as exc:  # the stream goes on from the store until Redis is back
            log.warning("event stream of job %s: %s; asking the store", job_id, type(exc).__name__)
            await asyncio.sleep(settings.event_ping_s)
            entries = []
        if not entries:
            current = await run_in_threadpool(load)
            if current is not None and current.status.is_terminal:
                yield {"event": "job", "data": JobPublic.of(current).model_dump_json()}
                return
            yield {"event": "ping", "data": "{}"}
            continue
        for _, items in entries:
            for entry_id, fields in items:
                last_id = entry_id
                data = fields[b"data"].decode()
                yield {"event": fields[b"event"].decode(), "data": data}
                if JobStatus(json.loads(data).get("status", "queued")).is_terminal:
                    final = await run_in_threadpool(load)
                    assert final is not None
                    yield {"event": "job", "data": JobPublic.of(final).model_dump_json()}
                    return
        await asyncio.sleep(0)

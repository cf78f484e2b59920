"""The public job and batch objects: one definition for HTTP responses and webhooks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, field_serializer

from promptq.store.models import Batch, Job, JobRow
from promptq.store.status import BatchStatus, JobStatus


class ErrorInfo(BaseModel):
    type: str
    message: str


class UsagePublic(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cost_usd: float | None = 0.0  # null: a model without a known price was used


class _Timestamps(BaseModel):
    @field_serializer("created_at", "started_at", "finished_at", "erased_at", check_fields=False)
    def _iso_utc(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        if value.tzinfo is None:  # SQLite hands back naive datetimes; they are UTC
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class JobPublic(_Timestamps):
    id: str
    object: Literal["job"] = "job"
    task: str
    status: JobStatus
    batch_id: str | None
    custom_id: str | None
    prompt_version: str | None
    model: str | None
    result: dict[str, Any] | None
    error: ErrorInfo | None
    usage: UsagePublic
    attempts: int
    cache_hit: bool
    input_truncated: bool
    metadata: dict[str, Any] | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    # Set once DELETE /v1/jobs/{id} or the retention period erased the job's data: its
    # result, metadata and error message are null from then on.
    erased_at: datetime | None = None

    @classmethod
    def of(cls, job: Job | JobRow) -> JobPublic:
        return cls(
            id=job.id, task=job.task, status=job.status, batch_id=job.batch_id,
            custom_id=job.custom_id, prompt_version=job.prompt_version, model=job.model,
            result=job.result,
            error=ErrorInfo(type=job.error_type, message=job.error_message or "")
            if job.error_type else None,
            usage=UsagePublic(input_tokens=job.input_tokens, output_tokens=job.output_tokens,
                              cache_creation_input_tokens=job.cache_creation_input_tokens,
                              cache_read_input_tokens=job.cache_read_input_tokens,
                              cost_usd=job.cost_usd),
            attempts=job.attempts, cache_hit=job.cache_hit, input_truncated=job.input_truncated,
            metadata=job.metadata_, created_at=job.created_at, started_at=job.started_at,
            finished_at=job.finished_at, erased_at=job.erased_at,
        )


class BatchCounts(BaseModel):
    total: int = 0
    queued: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    needs_review: int = 0
    cancelled: int = 0


class BatchPublic(_Timestamps):
    id: str
    object: Literal["batch"] = "batch"
    task: str
    status: BatchStatus
    counts: BatchCounts
    usage: UsagePublic
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, batch: Batch, counts: BatchCounts, usage: UsagePublic) -> BatchPublic:
        return cls(id=batch.id, task=batch.task, status=batch.status, counts=counts, usage=usage,
                   created_at=batch.created_at, finished_at=batch.finished_at)

"""SQLModel tables: the job store is the source of truth, the broker only says "run job X"."""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, text
from sqlmodel import Field, SQLModel

from promptq.store.status import BatchStatus, DeliveryStatus, JobStatus, Priority


def utcnow() -> datetime:
    return datetime.now(UTC)


_sequence = itertools.count()


def new_id(prefix: str) -> str:
    """`prefix_` + 12 hex digits of milliseconds + a 6-digit process sequence + 14 random.

    Ids sort by creation time, and within one process by creation order, which makes
    `?after=<id>` pagination follow submission order.
    """
    millis = int(time.time() * 1000)
    return f"{prefix}_{millis:012x}{next(_sequence) % 0x1000000:06x}{secrets.token_hex(7)}"


class Tenant(SQLModel, table=True):
    __tablename__ = "tenants"

    id: str = Field(primary_key=True, max_length=64)
    # Standard Webhooks secret, `whsec_` + base64; shown to the tenant on request.
    webhook_secret: str
    created_at: datetime = Field(default_factory=utcnow)
    # The secret before the last rotation: deliveries are signed with it too for a while
    # after `webhook_secret_rotated_at` (promptq/webhook_secrets.py).
    previous_webhook_secret: str | None = None
    webhook_secret_rotated_at: datetime | None = None


KEY_SOURCE_ENV = "env"
KEY_SOURCE_CLI = "cli"


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"

    # SHA-256 of the key: keys are high-entropy, so a fast hash is enough and lets
    # us look the key up by its hash.
    key_hash: str = Field(primary_key=True, max_length=64)
    tenant_id: str = Field(foreign_key="tenants.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    # The key's public name (`key_…`), for `promptq keys list|revoke`: never the secret.
    # Nullable for rows stored before it existed; bootstrap gives env keys one.
    id: str | None = Field(default=None, max_length=40, unique=True, index=True)
    # Set when the key was seen again after a minute or more (not on every request).
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    # "env" (PROMPTQ_API_KEYS: revoked at start when no longer listed) or "cli".
    source: str | None = Field(default=KEY_SOURCE_ENV, max_length=8)


class Batch(SQLModel, table=True):
    __tablename__ = "batches"

    id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(index=True, max_length=64)
    task: str
    status: BatchStatus = Field(default=BatchStatus.IN_PROGRESS)
    total: int
    webhook_url: str | None = None
    priority: Priority = Priority.BATCH
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class Job(SQLModel, table=True):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_batch_status", "batch_id", "status", "id"),
        Index("ix_jobs_status_dispatched", "status", "dispatched_at"),
        Index("ix_jobs_tenant_idem", "tenant_id", "idempotency_key", unique=True),
        # The retention sweep: finished jobs not erased yet, oldest first, without a scan.
        Index("ix_jobs_erased_finished", "erased_at", "finished_at"),
    )

    id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(max_length=64)
    task: str
    status: JobStatus = Field(default=JobStatus.QUEUED)
    priority: Priority = Priority.INTERACTIVE
    batch_id: str | None = Field(default=None, max_length=40)
    custom_id: str | None = None
    idempotency_key: str | None = None
    input_text: str = Field(sa_column=Column(Text, nullable=False))
    # A conversation ([{role, content}]) instead of a document; input_text then holds
    # its transcript. Over-long conversations lose their oldest messages first.
    input_messages: list[dict[str, str]] | None = Field(default=None, sa_column=Column(JSON))
    metadata_: dict[str, Any] | None = Field(default=None, sa_column=Column("metadata", JSON))
    webhook_url: str | None = None
    prompt_version: str | None = None
    model: str | None = None
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    error_type: str | None = None
    error_message: str | None = None
    # Sums over the ledger rows of this job, kept here so polling needs one row.
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cost_usd: float | None = 0.0
    attempts: int = 0  # provider calls made (each one a ledger row)
    # Claims of the job (runs), counted by the claim itself, and runs that ended with
    # the lease lapsing (the worker neither finished nor rescheduled it): both bounded,
    # so that no input or defect makes a job run, and spend, forever.
    runs: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    lapsed_runs: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    # Where in the task's model chain the job is, and how often that model answered
    # "overloaded" in a row (the retry policy moves on after a few).
    model_index: int = 0
    consecutive_overloads: int = 0
    cache_hit: bool = False
    input_truncated: bool = False
    # A split document between runs: its pieces ([start, end) of input_text), the
    # extractions of the first ones and how often the split was tightened, so that a
    # retry goes on from the next piece instead of paying the first ones again.
    # Cleared when the job finishes.
    progress: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    # Scheduling: the relay re-publishes a queued job whose message is stale or
    # whose parked wait (not_before) is over; a running job whose lease lapsed
    # belongs to a dead worker.
    not_before: datetime | None = None
    dispatched_at: datetime | None = None
    claim_token: str | None = None
    lease_until: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # When its input, messages, result, metadata and error message were erased (DELETE
    # /v1/jobs/{id}, or PROMPTQ_RETENTION_DAYS); the row, usage and ledger stay.
    erased_at: datetime | None = None


class JobRow:
    """A job as one statement returned it: Job's attributes, read-only, for the columns
    the statement returned (store/jobs.py: RUN_COLUMNS, WEBHOOK_COLUMNS); any other
    raises AttributeError.

    Building an ORM `Job` from a row costs ~0.2 ms of CPU (attribute instrumentation),
    more than the statement that returned it; the hot path reads the row directly.
    """

    __slots__ = ("_values",)

    def __init__(self, row: Mapping[str, Any]) -> None:
        self._values = row

    def __getattr__(self, name: str) -> Any:
        try:  # the column `metadata` is the attribute `metadata_` (SQLAlchemy reserves the name)
            return self._values["metadata" if name == "metadata_" else name]
        except KeyError:
            raise AttributeError(name) from None


class LedgerLine(SQLModel):
    """One provider attempt, failed ones included: what was asked, spent and returned —
    a ledger row's values before it is stored (every column but the id).

    A worker builds one per provider call: this plain model costs about a tenth of the
    CPU of the table model LedgerEntry (docs/decisions/0013-plain-rows-on-the-hot-path.md).
    """

    tenant_id: str = Field(max_length=64)
    job_id: str = Field(index=True, max_length=40)
    batch_id: str | None = Field(default=None, max_length=40)
    task: str
    provider: str
    model: str
    prompt_version: str
    attempt: int
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    # None when the model has no price in the table: unknown, never zero.
    cost_usd: float | None = 0.0
    latency_ms: int = 0
    # "ok" or a failure kind ("rate_limited", "refusal", …); "pending" from just before
    # the call until it is settled, with the reserved estimate as its usage and cost;
    # "unknown": never settled (its worker died), the estimate kept as what it may cost.
    outcome: str
    request_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class LedgerEntry(LedgerLine, table=True):
    """A stored ledger row."""

    __tablename__ = "ledger"
    __table_args__ = (
        Index("ix_ledger_tenant_created", "tenant_id", "created_at"),
        # The relay's sweep of unsettled rows reads only these (partial: a handful of rows).
        Index("ix_ledger_pending_created", "created_at", postgresql_where=text("outcome = 'pending'"),
              sqlite_where=text("outcome = 'pending'")),
    )

    id: int | None = Field(default=None, primary_key=True)


class WebhookDelivery(SQLModel, table=True):
    """One event to one URL; `attempts` counts the POSTs, each also in WebhookAttempt."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_deliveries_status_next", "status", "next_attempt_at"),
                      Index("ix_deliveries_object", "object_id"))

    id: str = Field(primary_key=True, max_length=40)  # the webhook-id header, stable across retries
    tenant_id: str = Field(max_length=64)
    url: str
    event_type: str
    payload: str = Field(sa_column=Column(Text, nullable=False))  # the exact signed body
    # The job or batch the event is about: erasing a job erases its webhooks' payloads too.
    object_id: str | None = Field(default=None, max_length=40)
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    dispatched_at: datetime | None = None
    # Held by the worker making an attempt: a duplicate message finds it taken.
    lease_until: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    delivered_at: datetime | None = None


class WebhookAttempt(SQLModel, table=True):
    __tablename__ = "webhook_attempts"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: str = Field(index=True, max_length=40)
    attempt: int
    status_code: int | None = None
    error: str | None = None
    latency_ms: int = 0
    created_at: datetime = Field(default_factory=utcnow)

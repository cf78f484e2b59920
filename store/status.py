"""The one definition of job and batch states."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    QUEUED = "queued"              # committed; a broker message is (or will be) on its way
    RUNNING = "running"            # claimed by one worker, which renews its lease
    SUCCEEDED = "succeeded"        # result validated against the task's schema
    FAILED = "failed"              # a fatal error, or the attempt budget ran out
    NEEDS_REVIEW = "needs_review"  # a refusal, or output that stayed invalid: a person must look
    CANCELLED = "cancelled"        # cancelled by the caller before it finished

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.NEEDS_REVIEW, JobStatus.CANCELLED})


class BatchStatus(StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"        # every job is terminal
    CANCELLED = "cancelled"


class Priority(StrEnum):
    """Which queue a job rides: interactive jobs are read first, not after a bulk batch."""

    INTERACTIVE = "interactive"
    BATCH = "batch"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"              # gave up after the retry schedule

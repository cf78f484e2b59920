"""Every Redis key promptq writes, in one place (the prefix comes from Settings.redis_prefix).

Two namespaces are kept by their owners under the same prefix: the broker's
(`{prefix}:celery:`, celeryconfig) and the rate limiter's (`{prefix}:ratelimit:`,
workers/ratelimit/redis_backend.py).
"""

from __future__ import annotations


def job_events(prefix: str, job_id: str) -> str:
    """A Redis stream of one job's status events (SSE reads it)."""
    return f"{prefix}:events:job:{job_id}"


def relay_lock(prefix: str) -> str:
    """Held by the one worker that runs the relay this tick."""
    return f"{prefix}:relay:lock"


def relay_marks(prefix: str, queue: str) -> str:
    """The relay's record of how far a job queue's list has been taken (workers/frontier.py)."""
    return f"{prefix}:relay:marks:{queue}"


def broker_queue(prefix: str, queue: str) -> str:
    """The broker's list of a queue's waiting messages (kombu's key, celeryconfig's prefix)."""
    return f"{prefix}:celery:{queue}"


def metrics(prefix: str) -> str:
    """A hash of counters, field `name{labels}` → count."""
    return f"{prefix}:metrics"


def batch_open(prefix: str, batch_id: str) -> str:
    """How many of a batch's jobs have not finished yet: a hint (see promptq/batch_progress.py)."""
    return f"{prefix}:batch:{batch_id}:open"

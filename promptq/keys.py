"""Every Redis key promptq writes, in one place (the prefix comes from Settings.redis_prefix)."""

from __future__ import annotations


def job_events(prefix: str, job_id: str) -> str:
    """A Redis stream of one job's status events (SSE reads it)."""
    return f"{prefix}:events:job:{job_id}"


def relay_lock(prefix: str) -> str:
    """Held by the one worker that runs the relay this tick."""
    return f"{prefix}:relay:lock"


def idempotency(prefix: str, tenant: str, key: str) -> str:
    return f"{prefix}:idem:{tenant}:{key}"


def ratelimit(prefix: str) -> str:
    """The rate limiter's own namespace (it adds provider/model/dimension below it)."""
    return f"{prefix}:rl"

"""Job events on Redis streams: workers append, the API's SSE endpoint reads.

A stream (not pub/sub) so that a client connecting late still sees what happened.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from promptq import keys

STREAM_MAXLEN = 200
STREAM_TTL_S = 24 * 3600


def publish(pipe: redis.client.Pipeline, prefix: str, job_id: str, event: str, data: dict[str, Any]) -> None:
    """Queue the event on `pipe`; the caller executes it (with whatever else it sends)."""
    key = keys.job_events(prefix, job_id)
    pipe.xadd(key, {"event": event, "data": json.dumps(data, default=str)},
              maxlen=STREAM_MAXLEN, approximate=True)
    pipe.expire(key, STREAM_TTL_S)

"""Publishing run-job messages: every one arrives, in pipelines of PUBLISH_BATCH."""

from __future__ import annotations

import base64
import json

import redis

from promptq import dispatch
from promptq.settings import get_settings
from support import REDIS_URL


def test_a_large_publish_arrives_whole_and_in_order() -> None:
    settings = get_settings()
    queue = "pqtest-dispatch"  # no worker consumes it, nothing declared it
    key = f"{settings.redis_prefix}:celery:{queue}"
    client = redis.Redis.from_url(REDIS_URL)
    client.delete(key)
    n = dispatch.PUBLISH_BATCH * 2 + 500  # three pipelines
    try:
        assert dispatch.publish_jobs(settings.redis_url, [(f"job_{i:05d}", queue) for i in range(n)]) == n
        assert client.llen(key) == n
        # LPUSH: the first published is at the tail
        messages = [json.loads(m) for m in client.lrange(key, 0, -1)]
        ids = [m["headers"]["id"] for m in reversed(messages)]
        assert ids == [f"job_{i:05d}" for i in range(n)]
        assert {m["headers"]["task"] for m in messages} == {dispatch.RUN_JOB}
        # what Flower shows of a task's arguments
        assert {m["headers"]["argsrepr"] == repr([m["headers"]["id"]]) for m in messages} == {True}
        assert json.loads(base64.b64decode(messages[0]["body"]))[0] == [messages[0]["headers"]["id"]]
    finally:
        client.delete(key)

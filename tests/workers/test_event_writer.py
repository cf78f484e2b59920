"""Live events and counters: queued by job threads, written in order by one thread."""

from __future__ import annotations

import json
import threading
import uuid

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from promptq import keys, metrics
from promptq.launch import forget_redis_prefix
from promptq.workers.event_writer import EventWriter
from support import REDIS_URL, wait_until


def test_events_reach_the_stream_in_the_order_they_were_queued() -> None:
    client = redis.Redis.from_url(REDIS_URL)
    prefix = f"pqtest-events-{uuid.uuid4().hex[:8]}"
    writer = EventWriter(client, prefix)
    try:
        threads = [threading.Thread(target=lambda j=j: [writer.event(f"job{j}", "status", {"n": n})
                                                       for n in range(200)]) for j in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        writer.count("promptq_jobs_finished_total", {"task": "t", "status": "succeeded"})
        writer.close()
        for j in range(4):
            entries = client.xrange(keys.job_events(prefix, f"job{j}"))
            assert [json.loads(fields[b"data"])["n"] for _, fields in entries] == list(range(200))
            assert client.ttl(keys.job_events(prefix, f"job{j}")) > 0
        field = metrics.field("promptq_jobs_finished_total", {"task": "t", "status": "succeeded"})
        assert client.hget(keys.metrics(prefix), field) == b"1"
    finally:
        forget_redis_prefix(REDIS_URL, prefix)


def test_a_redis_outage_loses_events_but_not_the_writer() -> None:
    down = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2,  # nothing listens
                       retry=Retry(NoBackoff(), 0))
    writer = EventWriter(down, "pqtest-down")
    writer.event("job", "status", {"status": "running"})
    # the failed write is logged and dropped; the thread goes on taking events
    wait_until(lambda: writer._queue.empty(), timeout_s=5, what="the failed write")
    assert writer._thread.is_alive()
    writer.close(timeout_s=30)  # the failed write may still be under way
    assert not writer._thread.is_alive()


def test_events_beyond_the_queue_cap_are_dropped(monkeypatch) -> None:
    from promptq.workers import event_writer

    monkeypatch.setattr(event_writer, "MAX_QUEUED", 10)
    writer = EventWriter(redis.Redis.from_url(REDIS_URL), "pqtest-cap")
    writer.close()  # nothing drains the queue from here on, as with Redis away for long
    for n in range(50):
        writer.event("job", "status", {"n": n})
    assert writer._queue.qsize() == 10

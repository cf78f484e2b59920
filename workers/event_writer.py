"""Live job events and counters, written to Redis in order by one thread per process.

Both are best effort (the store holds the truth), so no job thread waits for them:
it queues them and goes on. The writer waits `linger_s` after the first item of a
write, then takes whatever is queued, up to `MAX_BATCH`, and sends it in one
pipeline: a job's events (running, finished) and counters (call, finish) then share
a round trip, and under load many jobs' do. Each write costs this thread ~0.3 ms of
CPU whatever it carries, and a live stream ten milliseconds later is still live.
One queue and one thread keep each job's events in the order they were queued (SSE
readers rely on it). What is queued when the process dies is lost, as an event lost
with Redis would be.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Mapping
from typing import Any

import redis

from promptq import events, metrics

log = logging.getLogger(__name__)
MAX_BATCH = 500
MAX_QUEUED = 100_000  # beyond this (Redis away for long), new events are dropped
LINGER_S = 0.01  # seconds from the first item of a write to the write
_STOP = object()


class EventWriter:
    def __init__(self, client: redis.Redis, prefix: str, *, linger_s: float = LINGER_S) -> None:
        self._client = client
        self._prefix = prefix
        self._linger_s = linger_s
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="promptq-events", daemon=True)
        self._thread.start()

    def event(self, job_id: str, event: str, data: dict[str, Any]) -> None:
        """Append `event` to the job's stream (promptq/events.py)."""
        self._put((events.publish, (self._prefix, job_id, event, data)))

    def count(self, name: str, labels: Mapping[str, str]) -> None:
        """Add one to a counter (promptq/metrics.py)."""
        self._put((metrics.incr, (self._prefix, name), dict(labels)))

    def _put(self, item: Any) -> None:
        if self._queue.qsize() < MAX_QUEUED:
            self._queue.put(item)

    def _loop(self) -> None:
        while True:
            items = [self._queue.get()]
            if items[0] is not _STOP and self._linger_s > 0:
                time.sleep(self._linger_s)
            while len(items) < MAX_BATCH:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(item is _STOP for item in items)
            self._write([item for item in items if item is not _STOP])
            if stop:
                return

    def _write(self, items: list[Any]) -> None:
        if not items:
            return
        try:
            pipe = self._client.pipeline(transaction=False)
            for write, args, *kwargs in items:
                write(pipe, *args, **(kwargs[0] if kwargs else {}))
            pipe.execute()
        except Exception:  # Redis away, or a defect: drop these, keep the thread for the next
            log.warning("could not write %d live events or counters", len(items), exc_info=True)

    def close(self, timeout_s: float = 5.0) -> None:
        """Write what is queued, then stop the thread."""
        self._queue.put(_STOP)
        self._thread.join(timeout=timeout_s)

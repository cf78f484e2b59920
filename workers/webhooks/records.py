"""Successful webhook attempts, written to the store in batches from one thread.

A delivered attempt changes nothing anyone waits for: the receiver has the event,
and no retry depends on the row. Writing it with others (every `interval_s`, one
transaction) instead of in its own transaction saves each job a transaction of four
round trips. If the process dies before the write, the delivery is still pending in
the store and the relay sends it again after `relay_stale_s`, with the same
webhook-id (at-least-once, as after any crash). Failed attempts are written at once
by the caller: their retry schedule depends on the row.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.engine import Engine

from promptq.store.deliveries import AttemptRecord, record_attempts

log = logging.getLogger(__name__)
MAX_PENDING = 50_000  # with the store away this long, older records are dropped (the relay resends)


class DeliveredLog:
    def __init__(self, engine: Engine, interval_s: float = 0.1) -> None:
        self._engine = engine
        self._interval_s = interval_s
        self._pending: list[AttemptRecord] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="promptq-webhook-records", daemon=True)
        self._thread.start()

    def add(self, record: AttemptRecord) -> None:
        with self._lock:
            self._pending.append(record)
            if len(self._pending) > MAX_PENDING:
                del self._pending[:len(self._pending) - MAX_PENDING]

    def flush(self) -> int:
        """Write what is pending now; returns how many were written."""
        with self._lock:
            records, self._pending = self._pending, []
        try:
            record_attempts(self._engine, records)
        except Exception:  # the store is away: keep them for the next tick
            with self._lock:
                self._pending[:0] = records
            raise
        return len(records)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.flush()
            except Exception:
                log.exception("writing delivered webhook attempts failed; retrying")

    def stop(self) -> None:
        """Stop the thread after a last write."""
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            self.flush()
        except Exception:
            log.exception("the last write of delivered webhook attempts failed")

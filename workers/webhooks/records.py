"""Successful webhook attempts, written to the store in batches from one thread.

A delivered attempt changes nothing anyone waits for: the receiver has the event,
and no retry depends on the row. So the webhook loop hands it to this log and goes
on; one thread per process writes what has gathered, in one transaction. It writes
`linger_s` after a record arrives, with what arrived meanwhile, and what arrives
during a write goes into the next (so at most ~1/linger_s writes a second): a
transaction costs this thread ~0.7 ms of CPU however many records it carries, so at
100 jobs a second a 50 ms linger shares one among five jobs instead of each paying
its own. If the process dies before the write, the delivery is still pending in the
store and the relay sends it again after `relay_stale_s`, with the same webhook-id
(at-least-once, as after any crash); the window for that is the linger and one
write. Failed attempts are written at once by the caller: their retry schedule
depends on the row.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.engine import Engine

from promptq.store.deliveries import AttemptRecord, record_attempts

log = logging.getLogger(__name__)
MAX_PENDING = 50_000  # with the store away this long, older records are dropped (the relay resends)


class DeliveredLog:
    """`linger_s`: from a record's arrival to the write that takes it, in seconds;
    `retry_s`: wait after a failed write, in seconds."""

    def __init__(self, engine: Engine, *, linger_s: float = 0.05, retry_s: float = 1.0) -> None:
        self._engine = engine
        self._linger_s = linger_s
        self._retry_s = retry_s
        self._pending: list[AttemptRecord] = []
        self._changed = threading.Condition()
        self._stopping = False
        self.failed_writes = 0
        self._thread = threading.Thread(target=self._loop, name="promptq-webhook-records", daemon=True)
        self._thread.start()

    def add(self, record: AttemptRecord) -> None:
        with self._changed:
            self._pending.append(record)
            if len(self._pending) > MAX_PENDING:
                del self._pending[:len(self._pending) - MAX_PENDING]
            self._changed.notify()

    def flush(self) -> int:
        """Write what is pending now; returns how many were written."""
        with self._changed:
            records, self._pending = self._pending, []
        try:
            record_attempts(self._engine, records)
        except Exception:  # the store is away: keep them, in order, for the next write
            with self._changed:
                self._pending[:0] = records
            raise
        return len(records)

    def _loop(self) -> None:
        while True:
            with self._changed:
                while not self._pending and not self._stopping:
                    self._changed.wait()
                self._wait_unless_stopping(self._linger_s)  # more records come meanwhile
                if self._stopping:
                    return
            try:
                self.flush()
            except Exception:
                self.failed_writes += 1
                log.exception("writing delivered webhook attempts failed; retrying")
                with self._changed:
                    self._wait_unless_stopping(self._retry_s)

    def _wait_unless_stopping(self, seconds: float) -> None:
        """Wait `seconds` (holding `_changed`); only stop() cuts it short, a new record does not."""
        self._changed.wait_for(lambda: self._stopping, timeout=seconds)

    def stop(self) -> None:
        """Stop the thread after a last write."""
        with self._changed:
            self._stopping = True
            self._changed.notify()
        self._thread.join(timeout=5)
        try:
            self.flush()
        except Exception:
            log.exception("the last write of delivered webhook attempts failed")

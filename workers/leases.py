"""Keeps the leases of the jobs this process runs alive, from one background thread.

A worker that dies stops renewing; the relay then re-queues its jobs. One UPDATE
per interval per process, whatever the number of jobs in flight.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine

from promptq.store import jobs

log = logging.getLogger(__name__)


class LeaseKeeper:
    def __init__(self, engine: Engine, lease_s: float) -> None:
        self._engine = engine
        self._lease_s = lease_s
        self._tokens: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="promptq-leases", daemon=True)
        self._thread.start()

    @contextmanager
    def hold(self, token: str) -> Iterator[None]:
        with self._lock:
            self._tokens.add(token)
        try:
            yield
        finally:
            with self._lock:
                self._tokens.discard(token)

    def _loop(self) -> None:
        # Renew at a third of the lease: two renewals may fail before it lapses.
        while not self._stop.wait(self._lease_s / 3):
            with self._lock:
                tokens = list(self._tokens)
            try:
                jobs.renew_leases(self._engine, tokens, self._lease_s)
            except Exception:  # a DB hiccup must not kill the thread; the next tick retries
                log.exception("renewing %d job leases failed", len(tokens))

    def stop(self) -> None:
        self._stop.set()

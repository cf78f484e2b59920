"""Engine and sessions for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import create_engine

from promptq.store import models  # noqa: F401  (registers the tables on SQLModel.metadata)


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """An engine tuned for many short transactions from many threads.

    Connections per process stay at most 2 × `pool_size` (20): hundreds of worker
    threads share them, each holding one only for a short transaction, and a fleet
    of processes stays under PostgreSQL's default max_connections of 100.
    """
    # hide_parameters: a failed statement's error (logged by Celery, uvicorn) would
    # otherwise quote its parameters: documents, results, webhook payloads.
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               pool_size=pool_size, max_overflow=pool_size, pool_timeout=30,
                               hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            # WAL lets the API read while a worker writes; busy_timeout queues writers
            # instead of failing them with "database is locked".
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    # No pre-ping (a round trip per checkout): a connection the server dropped fails
    # its statement once, the job's lease lapses and it runs again; pool_recycle keeps
    # connections younger than common idle timeouts.
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800,
                         pool_timeout=30, hide_parameters=True)


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """One engine per URL per process. The tables are the migrations' business
    (promptq/store/migrate.py): `promptq db upgrade`, checked at start."""
    return make_engine(url)


@lru_cache(maxsize=8)
def autocommit(engine: Engine) -> Engine:
    """The same engine and pool, each statement its own transaction: for the hot path's
    single-statement transactions (a conditional UPDATE is atomic alone), which then
    cost one round trip instead of three (BEGIN, the statement, COMMIT)."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")

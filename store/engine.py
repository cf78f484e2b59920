"""Engine and sessions for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, SQLModel, create_engine

from promptq.store import models  # noqa: F401  (registers the tables on SQLModel.metadata)


def make_engine(url: str, *, pool_size: int = 20) -> Engine:
    """An engine tuned for many short transactions from many threads."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

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
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
                         pool_timeout=30)


def create_tables(engine: Engine) -> None:
    try:
        SQLModel.metadata.create_all(engine)
    except DBAPIError:
        # Two processes starting together race on CREATE TABLE; the loser's second
        # pass finds the tables there.
        SQLModel.metadata.create_all(engine)


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """One engine per URL per process, tables created on first use."""
    engine = make_engine(url)
    create_tables(engine)
    return engine


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session

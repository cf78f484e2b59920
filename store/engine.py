"""Engine and sessions for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import logging
from functools import lru_cache

from sqlalchemy import event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import SQLModel, create_engine

from promptq.store import models  # noqa: F401  (registers the tables on SQLModel.metadata)

log = logging.getLogger(__name__)


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


def create_tables(engine: Engine) -> None:
    try:
        SQLModel.metadata.create_all(engine)
    except DBAPIError:
        # Two processes starting together race on CREATE TABLE; the loser's second
        # pass finds the tables there.
        SQLModel.metadata.create_all(engine)
    add_new_columns(engine)


def add_new_columns(engine: Engine) -> list[str]:
    """Add the nullable columns a newer promptq has to tables an older one created
    (create_all makes missing tables only); returns them as "table.column".

    The rows already there get NULL in a new column (not the model's default). That is
    the only schema change this does: a NOT NULL column needs values for those rows —
    a real migration — and is refused with the name of the column.
    """
    added: list[str] = []
    quote = engine.dialect.identifier_preparer.quote
    for table in SQLModel.metadata.sorted_tables:
        present = {c["name"] for c in inspect(engine).get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if not column.nullable:
                raise RuntimeError(f"table {table.name} lacks the NOT NULL column {column.name}: "
                                   "migrate it before starting this version")
            ddl = (f"ALTER TABLE {quote(table.name)} ADD COLUMN {quote(column.name)} "
                   f"{column.type.compile(dialect=engine.dialect)}")
            try:
                with engine.begin() as conn:
                    conn.exec_driver_sql(ddl)
            except DBAPIError:  # another process starting together added it first
                if column.name not in {c["name"] for c in inspect(engine).get_columns(table.name)}:
                    raise
                continue
            added.append(f"{table.name}.{column.name}")
            log.info("added column %s.%s to the store", table.name, column.name)
    return added


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """One engine per URL per process, tables created on first use."""
    engine = make_engine(url)
    create_tables(engine)
    return engine



@lru_cache(maxsize=8)
def autocommit(engine: Engine) -> Engine:
    """The same engine and pool, each statement its own transaction: for the hot path's
    single-statement transactions (a conditional UPDATE is atomic alone), which then
    cost one round trip instead of three (BEGIN, the statement, COMMIT)."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")

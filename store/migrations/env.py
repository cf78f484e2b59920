"""Alembic's environment for promptq: run by `promptq db upgrade` (promptq/store/migrate.py),
never through an alembic.ini.

The whole upgrade is one transaction that first takes a lock, so that processes upgrading
together run one after the other and the later ones find the database at head:
PostgreSQL's transaction-level advisory lock, SQLite's write lock (BEGIN IMMEDIATE).
"""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from promptq.store import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from promptq.store.migrate import locked_transaction, migration_engine, render_item

config = context.config
engine = migration_engine(config.attributes["url"])
try:
    with engine.connect() as connection, locked_transaction(connection):
        context.configure(connection=connection, target_metadata=SQLModel.metadata,
                          render_as_batch=connection.dialect.name == "sqlite",
                          compare_type=True, render_item=render_item)
        context.run_migrations()
finally:
    engine.dispose()

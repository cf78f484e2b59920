"""Schema migrations (Alembic): `promptq db upgrade`, and the check the API and the workers
make at start that the database is at the revision this version needs (the head).

The revisions live in store/migrations/versions/ and ship inside the package; Alembic is
configured here, in code: no alembic.ini. Adding a revision after a change to
store/models.py: `python -m promptq.store.migrate revision "what changed"` (autogenerates
it against a scratch SQLite database at head; read it before committing).
"""

from __future__ import annotations

import enum
import logging
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
# The key of the PostgreSQL advisory lock upgrades take: "promptq" in ASCII, a constant
# no other application on the same server is likely to use.
ADVISORY_LOCK_KEY = 0x70726F6D707471
VERSION_TABLE = "alembic_version"


class SchemaNotAtHead(RuntimeError):
    """The database is not at the revision this version of promptq needs."""


class StartAction(enum.Enum):
    RUN = "run"  # at head: start
    UPGRADE = "upgrade"  # a new, empty development database: create the tables, then start
    REFUSE = "refuse"  # anything else behind (or ahead of) head: the operator upgrades


def start_action(current: str | None, head: str, *, env: str, empty: bool) -> StartAction:
    """What a starting API or worker does with a database at revision `current` (None: no
    revision recorded); `empty`: the database has no tables at all.

    Only an empty database in development is upgraded unasked (`make demo`, a first
    `promptq api`); a database holding data is never migrated as a side effect of a start.
    """
    if current == head:
        return StartAction.RUN
    if empty and env == "development":
        return StartAction.UPGRADE
    return StartAction.REFUSE


def refusal(current: str | None, head: str) -> str:
    """The one line a refused start prints."""
    at = current if current is not None else "none (no migration recorded)"
    return (f"promptq: database is at revision {at}, this version needs {head}: "
            "run 'promptq db upgrade'")


def sqlalchemy_url(url: str) -> str:
    """`url` with the driver promptq ships for PostgreSQL (psycopg 3), as Settings does."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain):]
    return url


def alembic_config(url: str = "") -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    cfg.attributes["url"] = sqlalchemy_url(url)
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migration scripts found under " + str(MIGRATIONS)
    return head


def revisions() -> list[str]:
    """Every revision, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_empty(engine: Engine) -> bool:
    return not inspect(engine).get_table_names()


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision`; a database at it already is left alone.
    Safe to run from several processes at once (see migrations/env.py)."""
    command.upgrade(alembic_config(url), revision)


def require_head(engine: Engine) -> None:
    """Raise SchemaNotAtHead (with the line to print) unless the database is at head."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaNotAtHead(refusal(current, head))


def prepare_for_start(url: str, env: str) -> None:
    """What `promptq api` and `promptq worker` do first: upgrade a new development
    database, refuse (SchemaNotAtHead) a database not at head."""
    engine = migration_engine(sqlalchemy_url(url))
    try:
        current, head = current_revision(engine), head_revision()
        action = start_action(current, head, env=env, empty=current is None and is_empty(engine))
    finally:
        engine.dispose()
    if action is StartAction.UPGRADE:
        upgrade(url)
        log.info("a new database in development: created its tables (revision %s)", head)
    elif action is StartAction.REFUSE:
        raise SchemaNotAtHead(refusal(current, head))


def migration_engine(url: str) -> Engine:
    """An engine of its own for migrations, one connection, no pool. On SQLite every
    transaction begins with BEGIN IMMEDIATE (the database's write lock) and DDL is part of
    it: pysqlite would otherwise run DDL outside any transaction."""
    if not url.startswith("sqlite"):
        return create_engine(url, poolclass=NullPool)
    engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": 60})

    @event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "begin")
    def _take_the_write_lock(conn):  # type: ignore[no-untyped-def]
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


@contextmanager
def locked_transaction(connection: Connection) -> Iterator[None]:
    """One transaction for the whole upgrade, holding the lock that serialises upgrades
    (PostgreSQL: an advisory lock released at commit; SQLite: the write lock)."""
    with connection.begin():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        yield


def render_item(kind: str, obj: object, _autogen_context: object) -> str | bool:
    """Autogenerate writes SQLModel's column types as the plain SQLAlchemy types they
    stand for: a revision is frozen and must not change with a library's internals."""
    if kind == "type":
        from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

        if isinstance(obj, AutoString):
            return f"sa.String(length={obj.impl.length})" if obj.impl.length else "sa.String()"
        if isinstance(obj, UTCDateTime):
            return "sa.DateTime(timezone=True)"
    return False


def new_revision(message: str) -> Path:
    """Autogenerate the next revision (numbered 0002, 0003, …) from the difference between
    store/models.py and the head revision, against a scratch SQLite database."""
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{Path(scratch) / 'head.db'}"
        upgrade(url)
        number = f"{len(revisions()) + 1:04d}"
        script = command.revision(alembic_config(url), message=message, autogenerate=True,
                                  rev_id=number)
    assert script is not None and not isinstance(script, list)
    return Path(script.path)


if __name__ == "__main__":  # python -m promptq.store.migrate revision "what changed"
    if len(sys.argv) != 3 or sys.argv[1] != "revision":
        sys.exit('usage: python -m promptq.store.migrate revision "what changed"')
    print(new_revision(sys.argv[2]))

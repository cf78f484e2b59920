"""The database's clock, as SQL: leases and stale messages are judged on one clock, not
on each host's (a worker whose clock runs minutes behind would write leases that have
already lapsed for everyone else)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, bindparam, literal, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel.sql.sqltypes import UTCDateTime


class db_time(FunctionElement[Any]):
    """The database's current time plus `seconds` (a number or a bound parameter), as the
    store's datetime columns hold it: timestamptz on PostgreSQL, UTC text on SQLite."""

    type = UTCDateTime()
    inherit_cache = True
    name = "db_time"

    def __init__(self, seconds: Any = 0.0) -> None:
        super().__init__(seconds if hasattr(seconds, "compile") else literal(float(seconds), Float))


@compiles(db_time, "postgresql")
def _postgresql(element: db_time, compiler: Any, **kw: Any) -> str:
    seconds = compiler.process(element.clauses, **kw)
    return f"(now() + make_interval(secs => {seconds}))"


@compiles(db_time, "sqlite")
def _sqlite(element: db_time, compiler: Any, **kw: Any) -> str:
    # SQLAlchemy stores SQLite datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff' text: the same
    # layout to the millisecond ('%f' is SS.SSS), so text comparison orders them in time.
    seconds = compiler.process(element.clauses, **kw)
    return f"strftime('%Y-%m-%d %H:%M:%f', 'now', printf('%+.3f seconds', {seconds}))"


def seconds_param(name: str) -> Any:
    """A bound parameter of seconds for db_time."""
    return bindparam(name, type_=Float)


_NOW = select(db_time(0.0))


def now(bind: Engine | Connection) -> Any:
    """The database's current time (aware, UTC), read in one round trip."""
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return conn.execute(_NOW).scalar_one()
    return bind.execute(_NOW).scalar_one()

"""Hot-path statements run on the driver's cursor, compiled once per dialect.

A job's claim is one UPDATE … RETURNING, one round trip, but through SQLAlchemy's
Connection it costs twice the CPU it costs on the driver's cursor: execution options,
the statement's cache key walked on every call, parameter and row objects
(docs/decisions/0002-claim-on-the-driver-cursor.md). The statement is still SQLAlchemy's:
compiled by the engine's dialect, its values converted by the columns' own bind and
result processors (enums stored by name, JSON, SQLite's datetimes), and driver errors
raised as SQLAlchemy's DBAPIError, as the rest of the store raises them.

Only for single statements that are their own transaction (autocommit): the
connection is put in autocommit for the statement and reset before it goes back to
the pool, as `autocommit()` in engine.py does through SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ColumnElement, Executable

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    construct_params: Callable[[Mapping[str, Any]], dict[str, Any]]
    binds: dict[str, Processor]
    positions: Sequence[str] | None  # bind names in order, for positional paramstyles
    columns: dict[str, Processor]    # returned column → result processor


class DirectStatement:
    """`statement`, run on the driver's cursor; `returning`: the columns it returns."""

    def __init__(self, statement: Executable, returning: Sequence[ColumnElement[Any]] = ()) -> None:
        self._statement = statement
        self._returning = tuple(returning)
        self._by_dialect: dict[Dialect, _Compiled] = {}

    def _compiled(self, dialect: Dialect) -> _Compiled:
        compiled = self._by_dialect.get(dialect)
        if compiled is None:
            c = self._statement.compile(dialect=dialect)
            compiled = self._by_dialect[dialect] = _Compiled(
                sql=str(c), construct_params=c.construct_params,
                binds={name: bind.type.dialect_impl(dialect).bind_processor(dialect)
                       for name, bind in c.binds.items()},
                positions=c.positiontup if c.positional else None,
                columns={col.key: col.type.dialect_impl(dialect).result_processor(dialect, None)
                         for col in self._returning})
        return compiled

    def first(self, engine: Engine, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """Run the statement in its own transaction; its first returned row (by
        column name), or None when it returned none (or returns nothing)."""
        rows = self._run(engine, params, many=False)
        return rows[0] if rows else None

    def all(self, engine: Engine, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Run the statement in its own transaction; every returned row (by column name)."""
        return self._run(engine, params, many=True)

    def _run(self, engine: Engine, params: Mapping[str, Any], *, many: bool) -> list[dict[str, Any]]:
        dialect = engine.dialect
        compiled = self._compiled(dialect)
        values = compiled.construct_params(params)
        for name, value in values.items():
            process = compiled.binds.get(name)
            if process is not None:
                values[name] = process(value)
        bound: Any = values if compiled.positions is None else [values[n] for n in compiled.positions]
        try:
            pooled = engine.raw_connection()
        except dialect.loaded_dbapi.Error as exc:  # the store is away
            raise _wrapped(compiled.sql, bound, exc, dialect) from exc
        dbapi = pooled.driver_connection
        cursor = None
        reset = False  # out of autocommit again: the pool's other users run transactions on it
        try:
            dialect.set_isolation_level(dbapi, "AUTOCOMMIT")
            try:
                cursor = dbapi.cursor()
                cursor.execute(compiled.sql, bound)
                rows: list[Any] = []
                if cursor.description is not None:  # None: no RETURNING
                    rows = cursor.fetchall() if many else cursor.fetchmany(1)
                names = [d[0] for d in cursor.description] if rows else ()
                cursor.close()
            finally:
                dialect.reset_isolation_level(dbapi)
                reset = True
        except dialect.loaded_dbapi.Error as exc:
            if not reset or dialect.is_disconnect(exc, dbapi, cursor):
                pooled.invalidate(exc)  # not back into the pool: the next checkout connects anew
            raise _wrapped(compiled.sql, bound, exc, dialect) from exc
        except BaseException:
            if not reset:
                pooled.invalidate()
            raise
        finally:
            pooled.close()  # back to the pool (a no-op after invalidate)
        columns = [(name, compiled.columns.get(name)) for name in names]
        return [{name: (process(value) if process else value) for (name, process), value in zip(columns, row)}
                for row in rows]


def _wrapped(sql: str, bound: Any, exc: Exception, dialect: Dialect) -> DBAPIError:
    """The driver's error as SQLAlchemy raises it (its subclass by the driver's class:
    OperationalError, IntegrityError, …), parameters hidden: they hold documents."""
    return DBAPIError.instance(sql, bound, exc, dialect.loaded_dbapi.Error, hide_parameters=True, dialect=dialect)

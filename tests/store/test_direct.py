"""A statement run on the driver's cursor (store/direct.py) stores and returns what it
would through SQLAlchemy, hands its connection back as it found it, and fails as the
rest of the store fails: with SQLAlchemy's errors, parameters hidden."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg.adapt import Dumper
from sqlalchemy import func, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlmodel import Session

from promptq.api.submission import insert_jobs, job_row
from promptq.prompts.registry import get_task
from promptq.store import jobs
from promptq.store.direct import DirectStatement
from promptq.store.engine import engine_for, make_engine
from promptq.store.models import Tenant, utcnow
from promptq.store.status import Priority

from support import PG_ADMIN_URL, postgres_database

MESSAGES = [{"role": "user", "content": "Wir suchen eine Köchin"}, {"role": "assistant", "content": "…"}]
PROGRESS = {"spans": [[0, 4], [5, 9]], "partials": [{"title": "Köchin"}], "shrinks": 1}


def test_a_claim_returns_each_column_as_sqlalchemy_reads_it(database_url: str) -> None:
    engine = engine_for(database_url)
    row = job_row(tenant="acme", task=get_task("job_posting_extraction"), text="eins zwei", messages=MESSAGES,
                  priority=Priority.INTERACTIVE, webhook_url=None, metadata=None)
    with Session(engine) as s:
        insert_jobs(s, [row])
        s.commit()
    first = jobs.claim(engine, row["id"], lease_s=30)
    assert first is not None
    jobs.keep_progress(engine, first, PROGRESS)
    assert jobs.requeue(engine, first, not_before=None, dispatched=True, progress=PROGRESS)

    claim = jobs.claim(engine, row["id"], lease_s=30)  # JSON, an enum, integers, NULL

    assert claim is not None
    with Session(engine) as s:
        expected = s.execute(select(*jobs.RUN_COLUMNS).where(jobs.JOBS.c.id == row["id"])).mappings().one()
    assert {name: getattr(claim.job, name) for name in expected} == dict(expected)
    assert (claim.job.priority, claim.job.input_messages, claim.job.progress) == (
        Priority.INTERACTIVE, MESSAGES, PROGRESS)
    assert type(claim.job.priority) is Priority


def test_a_claim_of_a_job_not_queued_returns_none(database_url: str) -> None:
    engine = engine_for(database_url)
    assert jobs.claim(engine, "job_that_does_not_exist", lease_s=30) is None


class _Unbindable:
    """A value the driver fails to bind with an error of its own kind, not the driver's."""

    def __conform__(self, protocol):  # sqlite3's adaptation protocol
        raise RuntimeError("cannot bind this (test)")


class _UnbindableDumper(Dumper):  # psycopg's
    def dump(self, obj):
        raise RuntimeError("cannot bind this (test)")


psycopg.adapters.register_dumper(_Unbindable, _UnbindableDumper)


@pytest.mark.parametrize("statement_ends", ["well", "with a driver error", "with another error"])
def test_the_connection_goes_back_to_the_pool_out_of_autocommit(database_url: str, statement_ends: str) -> None:
    engine = make_engine(database_url, pool_size=1)  # the same connection, checked out in turn
    a, b = (f"direct-{name}-{uuid.uuid4().hex[:8]}" for name in "ab")
    try:
        _insert_tenant(engine, a)
        if statement_ends == "with a driver error":
            with pytest.raises(IntegrityError):
                _insert_tenant(engine, a)
        elif statement_ends == "with another error":
            with pytest.raises(RuntimeError):
                _insert_tenant(engine, b, secret=_Unbindable())
        # a transaction on the connection the statement used still rolls back as a whole
        with pytest.raises(RuntimeError), engine.begin() as conn:
            conn.execute(insert(Tenant.__table__).values(id=b, webhook_secret="whsec_x", created_at=utcnow()))
            raise RuntimeError("roll back")
        with Session(engine) as s:
            assert s.get(Tenant, a) is not None
            assert s.get(Tenant, b) is None
    finally:
        engine.dispose()


def test_a_driver_error_is_sqlalchemys_with_the_parameters_hidden(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=1)
    c, d = (f"direct-{name}-{uuid.uuid4().hex[:8]}" for name in "cd")
    try:
        _insert_tenant(engine, c)
        with pytest.raises(IntegrityError) as raised:  # a DBAPIError, as the pipeline expects
            _insert_tenant(engine, c, secret="whsec_not-for-the-logs")
        assert "whsec_not-for-the-logs" not in str(raised.value)
        _insert_tenant(engine, d)  # the connection is usable again
    finally:
        engine.dispose()


def test_a_store_that_cannot_be_reached_raises_sqlalchemys_error(database_url: str, tmp_path) -> None:
    # the pipeline tells the store being away (DBAPIError) from a defect by this type
    unreachable = ("postgresql+psycopg://postgres@127.0.0.1:1/promptq" if database_url.startswith("postgresql")
                   else f"sqlite:///{tmp_path / 'no-such-directory' / 'promptq.db'}")
    engine = make_engine(unreachable, pool_size=1)
    try:
        with pytest.raises(OperationalError):  # a DBAPIError
            jobs.claim(engine, "job_1", lease_s=30)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_connection_the_server_dropped_fails_once_and_is_replaced() -> None:
    pid_column = func.pg_backend_pid().label("pid")
    backend_pid = DirectStatement(select(pid_column), [pid_column])
    with postgres_database() as url:  # its own: the test kills a server process
        engine = make_engine(url, pool_size=1)
        try:
            pid = backend_pid.first(engine, {})["pid"]
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            with pytest.raises(DBAPIError):
                backend_pid.first(engine, {})
            assert backend_pid.first(engine, {})["pid"] != pid
        finally:
            engine.dispose()


def _insert_tenant(engine, tenant_id: str, secret: object = "whsec_direct") -> None:
    statement = insert(Tenant.__table__).values(id=tenant_id, webhook_secret=secret, created_at=utcnow())
    DirectStatement(statement).first(engine, {})

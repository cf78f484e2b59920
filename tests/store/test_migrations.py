"""Schema migrations: an empty database upgrades to exactly store/models.py, every revision
upgrades with rows in the tables, a database promptq made before migrations is adopted,
upgrades started together run one after the other, and the API and the worker refuse to
start on a database that is not at head."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psutil
import psycopg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlmodel import Session, SQLModel

from promptq.launch import free_port
from promptq.store.engine import make_engine
from promptq.store.migrate import (ADVISORY_LOCK_KEY, SchemaNotAtHead, StartAction, current_revision,
                                   head_revision, refusal, revisions, start_action, upgrade)
from promptq.store.models import Job
from promptq.store.status import JobStatus
from support import fresh_database, wait_until

KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=KINDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path, at_head=False) as url:
        yield url


def _differences(url: str) -> list:
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                    SQLModel.metadata)
    finally:
        engine.dispose()


def _revision(url: str) -> str | None:
    engine = make_engine(url, pool_size=1)
    try:
        return current_revision(engine)
    finally:
        engine.dispose()


def _insert_a_job(url: str, job_id: str) -> None:
    """A row in jobs with a value in every NOT NULL column the table has at its revision."""
    engine = make_engine(url, pool_size=1)
    try:
        jobs = sa.Table("jobs", sa.MetaData(), autoload_with=engine)
        row = {}
        for column in jobs.columns:
            if column.nullable or column.server_default is not None:
                continue
            # the model's type where it has the column: SQLite reflects an enum as VARCHAR
            type_ = Job.__table__.c[column.name].type if column.name in Job.__table__.c else column.type
            if isinstance(type_, sa.TypeDecorator):  # SQLModel's AutoString, UTCDateTime
                type_ = type_.impl_instance
            if isinstance(type_, sa.Enum):
                row[column.name] = type_.enums[0]
            elif isinstance(type_, sa.Boolean):
                row[column.name] = False
            elif isinstance(type_, (sa.Integer, sa.Float)):
                row[column.name] = 0
            elif isinstance(type_, sa.DateTime):
                row[column.name] = datetime.now(UTC)
            else:
                row[column.name] = job_id if column.name == "id" else "x"
        with engine.begin() as conn:
            conn.execute(jobs.insert(), [row])
    finally:
        engine.dispose()


def _made_before_migrations(url: str) -> None:
    """The database as promptq made it before migrations: create_all's tables (revision
    0001 is exactly them), no alembic_version."""
    upgrade(url, revisions()[0])
    engine = make_engine(url, pool_size=1)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE alembic_version")
    engine.dispose()


@pytest.mark.parametrize(("current", "env", "empty", "action"), [
    ("0001", "production", False, StartAction.RUN),
    ("0001", "development", False, StartAction.RUN),
    (None, "development", True, StartAction.UPGRADE),   # `make demo`, a first `promptq api`
    (None, "production", True, StartAction.REFUSE),     # production never migrates on its own
    (None, "development", False, StartAction.REFUSE),   # tables from before migrations: data
    ("0000", "development", False, StartAction.REFUSE),  # behind head, holding data
    ("0002", "production", False, StartAction.REFUSE),  # ahead: a newer promptq upgraded it
])
def test_what_a_start_does_with_the_database(current, env, empty, action) -> None:
    assert start_action(current, "0001", env=env, empty=empty) is action


def test_the_refusal_is_one_line_naming_both_revisions_and_the_command() -> None:
    assert refusal("0001", "0002") == ("promptq: database is at revision 0001, this version needs "
                                       "0002: run 'promptq db upgrade'")
    assert "\n" not in refusal(None, "0002")


def test_an_empty_database_upgrades_to_exactly_the_models(empty_url: str) -> None:
    upgrade(empty_url)
    assert _revision(empty_url) == head_revision()
    assert _differences(empty_url) == []  # tables, columns, types, nullability, indexes
    upgrade(empty_url)  # at head: nothing to do
    assert _revision(empty_url) == head_revision()


def test_every_revision_upgrades_with_rows_in_the_tables(empty_url: str) -> None:
    for n, revision in enumerate(revisions()):
        upgrade(empty_url, revision)
        assert _revision(empty_url) == revision
        _insert_a_job(empty_url, f"job_rev_{n}")
    assert _differences(empty_url) == []
    engine = make_engine(empty_url, pool_size=1)
    with Session(engine) as s:  # every row, whichever revision stored it, reads as a Job
        assert [s.get(Job, f"job_rev_{n}").id for n in range(len(revisions()))] == [
            f"job_rev_{n}" for n in range(len(revisions()))]
    engine.dispose()


def test_a_database_made_before_migrations_is_adopted_with_its_rows(empty_url: str) -> None:
    _made_before_migrations(empty_url)
    _insert_a_job(empty_url, "job_round_1")
    assert _revision(empty_url) is None
    upgrade(empty_url)
    assert _revision(empty_url) == head_revision()
    assert _differences(empty_url) == []
    engine = make_engine(empty_url, pool_size=1)
    with Session(engine) as s:
        assert s.get(Job, "job_round_1").status is JobStatus.QUEUED
    engine.dispose()


def test_an_older_database_gets_the_nullable_columns_and_indexes_it_lacked(empty_url: str) -> None:
    _made_before_migrations(empty_url)
    engine = make_engine(empty_url, pool_size=1)
    with engine.begin() as conn:  # as a promptq from before Job.progress left it
        conn.exec_driver_sql("DROP INDEX ix_jobs_status_dispatched")
        conn.exec_driver_sql("ALTER TABLE jobs DROP COLUMN progress")
    engine.dispose()
    _insert_a_job(empty_url, "job_old")
    upgrade(empty_url)
    assert _differences(empty_url) == []
    engine = make_engine(empty_url, pool_size=1)
    with engine.begin() as conn:
        assert conn.exec_driver_sql("SELECT id, progress FROM jobs").all() == [("job_old", None)]
    engine.dispose()


def test_tables_lacking_a_not_null_column_are_refused_by_name(empty_url: str) -> None:
    _made_before_migrations(empty_url)
    engine = make_engine(empty_url, pool_size=1)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE jobs DROP COLUMN attempts")
    engine.dispose()
    with pytest.raises(RuntimeError, match="lacks NOT NULL column jobs.attempts"):
        upgrade(empty_url)
    assert _revision(empty_url) is None  # nothing recorded: the upgrade was one transaction


def _upgrades_at_once(url: str, n: int, cwd: Path) -> list[subprocess.Popen]:
    env = {**os.environ, "PROMPTQ_DATABASE_URL": url}
    return [subprocess.Popen([sys.executable, "-m", "promptq.cli", "db", "upgrade"], env=env, cwd=cwd,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for _ in range(n)]


def _all_succeed(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out[-3000:]


@pytest.mark.postgres
def test_upgrades_started_together_on_postgresql_run_one_after_the_other(tmp_path: Path) -> None:
    with fresh_database("postgres", tmp_path, at_head=False) as url:
        with psycopg.connect(url, autocommit=True) as holder:
            # the test holds the upgrades' lock until all three wait for it
            holder.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
            procs = _upgrades_at_once(url, 3, tmp_path)
            def waiting() -> int:
                return holder.execute("SELECT count(*) FROM pg_locks "
                                      "WHERE locktype = 'advisory' AND NOT granted").fetchone()[0]

            try:
                wait_until(lambda: waiting() == 3 or any(p.poll() is not None for p in procs),
                           timeout_s=120, what="three upgrades waiting for the lock")
                assert waiting() == 3, "an upgrade went on without waiting for the lock"
            finally:
                holder.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
                _all_succeed(procs)
        assert _revision(url) == head_revision()
        assert _differences(url) == []


def test_upgrades_started_together_on_sqlite_run_one_after_the_other(tmp_path: Path) -> None:
    path = tmp_path / "promptq.db"
    holder = sa.create_engine(f"sqlite:///{path}").raw_connection()
    holder.isolation_level = None
    holder.execute("BEGIN IMMEDIATE")  # the write lock, until all three have the file open
    procs = _upgrades_at_once(f"sqlite:///{path}", 3, tmp_path)
    def at_the_database(proc: subprocess.Popen) -> bool:
        try:
            return any(f.path == str(path) for f in psutil.Process(proc.pid).open_files())
        except psutil.NoSuchProcess:
            return False

    try:
        wait_until(lambda: all(at_the_database(p) for p in procs) or any(p.poll() is not None for p in procs),
                   timeout_s=120, what="three upgrades at the database")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    _all_succeed(procs)
    assert _revision(f"sqlite:///{path}") == head_revision()
    assert _differences(f"sqlite:///{path}") == []


# Databases a start must refuse: how to make one, and the revision it is then at.
BEHIND = {"empty, in production": lambda url: None,
          "made before migrations": _made_before_migrations}
if len(revisions()) > 1:
    BEHIND["at the previous revision"] = lambda url: upgrade(url, revisions()[-2])


@pytest.fixture(params=list(BEHIND))
def behind_url(request: pytest.FixtureRequest, empty_url: str) -> str:
    BEHIND[request.param](empty_url)
    return empty_url


@pytest.mark.parametrize("command", [["api", "--port", str(free_port())], ["worker", "-c", "2"]])
def test_the_api_and_the_worker_refuse_a_database_not_at_head(behind_url: str, command: list[str],
                                                              tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PROMPTQ_WEBHOOK_ALLOWED_HOSTS"}  # (a warning)
    # a provider key: a production worker without one is refused before the database is looked at
    env |= {"PROMPTQ_DATABASE_URL": behind_url, "PROMPTQ_ENV": "production",
            "OPENAI_API_KEY": "sk-test-not-a-real-key"}
    before = _revision(behind_url)
    done = subprocess.run([sys.executable, "-m", "promptq.cli", *command], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert (done.stdout + done.stderr).strip() == refusal(before, head_revision())
    assert _revision(behind_url) == before, "a refused start changes nothing"


def test_the_app_started_without_the_cli_refuses_too(behind_url: str) -> None:
    from promptq.api.app import create_app
    from promptq.settings import Settings

    with pytest.raises(SchemaNotAtHead, match="run 'promptq db upgrade'"):
        with TestClient(create_app(Settings(database_url=behind_url))):
            pass


def test_a_new_development_database_is_upgraded_by_the_first_start(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    env = {**os.environ, "PROMPTQ_DATABASE_URL": url, "PROMPTQ_ENV": "development"}
    proc = subprocess.Popen([sys.executable, "-m", "promptq.cli", "api", "--port", str(free_port())],
                            env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: (tmp_path / "new.db").exists() and _revision(url) == head_revision()
                   or proc.poll() is not None, timeout_s=120, what="the API to upgrade its database")
        assert proc.poll() is None, "the API started"
        assert _revision(url) == head_revision()
    finally:
        proc.terminate()
        proc.wait(30)

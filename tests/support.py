"""Shared test helpers: real services started for the tests, factories, waiting."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from promptq.launch import Processes, free_port, throwaway_postgres
from promptq.store.migrate import upgrade
from promptq.store.models import Batch


REDIS_URL = os.environ.get("PROMPTQ_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
PG_ADMIN_URL = os.environ.get("PROMPTQ_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
# The tenants and keys of every test session (conftest.py sets PROMPTQ_API_KEYS from them).
TENANT_KEYS = {"acme": "acme-key-0123456789abcdef", "globex": "globex-key-0123456789abcdef"}


def bearer(tenant: str = "acme") -> dict[str, str]:
    """The Authorization header of `tenant`'s key."""
    return {"Authorization": f"Bearer {TENANT_KEYS[tenant]}"}


@contextmanager
def served_api(log_dir: Path, **env: str) -> Iterator[str]:
    """`promptq api` as a real server (uvicorn, a process of its own) with the session's
    environment plus `env`; yields its base URL."""
    procs = Processes(log_dir, env={**os.environ, **env})
    try:
        yield procs.api(free_port())
    finally:
        procs.stop()


def wait_until(predicate: Callable[[], Any], timeout_s: float = 60.0, interval_s: float = 0.1,
               what: str = "condition") -> Any:
    """Poll until `predicate` returns something truthy; fail the test after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval_s)


@contextmanager
def postgres_database(at_head: bool = True) -> Iterator[str]:
    """A fresh PostgreSQL database for one test session, dropped afterwards; its tables
    made by the migrations unless `at_head` is false (then it is empty)."""
    with throwaway_postgres(PG_ADMIN_URL, "promptq_test") as url:
        if at_head:
            upgrade(url)
        yield url


@contextmanager
def fresh_database(kind: str, tmp_dir: Path, at_head: bool = True) -> Iterator[str]:
    """A new database of `kind` ("sqlite": a file under `tmp_dir`, or "postgres") at the
    migrations' head (empty if not `at_head`), dropped afterwards; yields its URL."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_dir / 'promptq.db'}"
        if at_head:
            upgrade(url)
        yield url
    else:
        with postgres_database(at_head) as url:
            yield url


def set_database_reachable(database: str, reachable: bool) -> None:
    """Let clients connect to PostgreSQL database `database`, or refuse them and drop the
    open connections (the store "going away" for a test)."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS {str(reachable).lower()}')
        if not reachable:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = %s AND pid <> pg_backend_pid()", (database,))


class WorkerProcess:
    """`promptq worker` as a real subprocess, as a user would start it."""

    def __init__(self, env: dict[str, str], log_path: Path, concurrency: int = 16,
                 name: str = "w1") -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "promptq.cli", "worker", "-c", str(concurrency),
             "--hostname", f"{name}-{uuid.uuid4().hex[:6]}@%h", "--loglevel", "INFO"],
            env=env, stdout=self._log, stderr=subprocess.STDOUT, cwd=log_path.parent)
        wait_until(lambda: b"ready." in log_path.read_bytes() or self.proc.poll() is not None,
                   timeout_s=60, what="the worker to start")
        if self.proc.poll() is not None:
            raise RuntimeError("worker died at start:\n" + log_path.read_text()[-3000:])

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


def queued_jobs(engine: Any, n: int, *, webhook_url: str | None = None, batch: Batch | None = None,
                **fields: Any) -> list[str]:
    """The ids of `n` jobs stored queued (task job_posting_extraction, tenant acme, texts
    "document 0", "document 1", …); `fields` override columns. Of `batch`, stored with
    them in one transaction, as the API does (a batch committed alone has no open job: a
    live worker's relay may complete it)."""
    from sqlmodel import Session

    from promptq.api.submission import insert_jobs, job_row
    from promptq.prompts.registry import get_task
    from promptq.store.status import Priority

    task = get_task("job_posting_extraction")
    rows = [job_row(tenant="acme", task=task, text=f"document {i}", priority=Priority.BATCH,
                    webhook_url=webhook_url, metadata=None, batch_id=batch.id if batch else None) | fields
            for i in range(n)]
    with Session(engine) as s:
        if batch is not None:
            s.add(batch)
            s.flush()
        insert_jobs(s, rows)
        s.commit()
    return [row["id"] for row in rows]

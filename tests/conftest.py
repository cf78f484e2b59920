"""Fixtures: a real simulator, real Redis, real workers, SQLite and PostgreSQL.

The environment is fixed here, before promptq is imported, because promptq reads
its settings once per process (celeryconfig included).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from promptq.launch import forget_redis_prefix, free_port
from promptq.receiver import WebhookReceiver
from support import REDIS_URL, TENANT_KEYS, WorkerProcess, fresh_database

SIM_PORT = free_port()
PREFIX = f"pqtest-{uuid.uuid4().hex[:8]}"

for var in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_BASE_URL", "OPENAI_BASE_URL",
            "PROMPTQ_DATABASE_URL", "PROMPTQ_API_KEYS", "PROMPTQ_ENV"):
    os.environ.pop(var, None)
os.environ.update({
    "PROMPTQ_REDIS_URL": REDIS_URL,
    "PROMPTQ_REDIS_PREFIX": PREFIX,
    "PROMPTQ_SIM_URL": f"http://127.0.0.1:{SIM_PORT}",
    "PROMPTQ_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
    "PROMPTQ_API_KEYS": ",".join(f"{t}:{k}" for t, k in TENANT_KEYS.items()),
    # Short relay and lease periods so recovery paths run within a test.
    "PROMPTQ_RELAY_INTERVAL_S": "0.5",
    "PROMPTQ_RELAY_STALE_S": "5",
    "PROMPTQ_JOB_LEASE_S": "6",
    "PROMPTQ_CALL_TIMEOUT_S": "5",
    "PROMPTQ_METRICS_TOKEN": "metrics-token-for-tests",
    # A deployment's own task (JSON-only output) next to the built-in ones.
    "PROMPTQ_PROMPTS_DIR": str(Path(__file__).parent / "fixtures" / "prompts"),
})


@pytest.fixture(scope="session")
def sim_url() -> Iterator[str]:
    from promptq.sim.config import SimConfig
    from promptq.sim.server import start_in_thread

    base_url, stop = start_in_thread(SimConfig(), port=SIM_PORT)
    yield base_url
    stop()


@pytest.fixture
def sim(sim_url: str) -> Iterator[str]:
    """The simulator, reset to no faults and no latency for this test."""
    import requests

    requests.post(f"{sim_url}/_sim/reset", timeout=5).raise_for_status()
    yield sim_url
    requests.post(f"{sim_url}/_sim/reset", timeout=5).raise_for_status()


@pytest.fixture(scope="session", autouse=True)
def _clean_redis() -> Iterator[None]:
    yield
    forget_redis_prefix(REDIS_URL, PREFIX)


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url


@dataclass
class Stack:
    """The API (in-process, the real app), one or more real worker processes, a webhook receiver."""

    api: Any
    settings: Any
    engine: Any
    env: dict[str, str]
    workers: list[WorkerProcess]
    receiver: WebhookReceiver
    tmp: Path

    def api_key(self, tenant: str = "acme") -> str:
        return TENANT_KEYS[tenant]

    def headers(self, tenant: str = "acme", **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key(tenant)}", **extra}

    def start_worker(self, name: str, concurrency: int = 16) -> WorkerProcess:
        worker = WorkerProcess(self.env, self.tmp / f"{name}.log", concurrency=concurrency, name=name)
        self.workers.append(worker)
        return worker


@pytest.fixture(scope="session")
def stack(database_url: str, sim_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from fastapi.testclient import TestClient

    from promptq.api.app import create_app
    from promptq.settings import Settings
    from promptq.store.engine import engine_for

    tmp = tmp_path_factory.mktemp("stack")
    env = {**os.environ, "PROMPTQ_DATABASE_URL": database_url}
    settings = Settings(database_url=database_url)
    receiver = WebhookReceiver()
    with TestClient(create_app(settings)) as api:
        s = Stack(api=api, settings=settings, engine=engine_for(settings.database_url), env=env,
                  workers=[], receiver=receiver, tmp=tmp)
        s.start_worker("main")
        yield s
        for w in s.workers:
            w.stop()
    receiver.stop()

"""Fairness between tenants (issue 24 D): one tenant's big batch cannot starve another's
jobs. Each test runs a stack of its own (API and worker processes, a database, a Redis
prefix) with a shallow batch queue (PROMPTQ_BATCH_QUEUE_DEPTH) and a small worker, so
that a batch of a few hundred documents is a long backlog; on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from promptq.launch import Processes, forget_redis_prefix, free_port
from support import REDIS_URL, bearer, fresh_database, wait_until

pytestmark = pytest.mark.integration
DEPTH = 8
TERMINAL = {"succeeded", "failed", "needs_review", "cancelled"}
POSTING = "Senior Python Engineer at Globex (Berlin, hybrid). 5+ years of experience. Salary 90,000 USD."


@dataclass
class Own:
    """A stack of this test's own: `promptq api` and, when started, one `promptq worker -c 4`."""

    procs: Processes
    prefix: str
    api_url: str = ""
    redis: Any = field(default=None)

    def start_worker(self) -> None:
        self.procs.worker("worker", concurrency=4)

    def post(self, path: str, body: dict[str, Any], tenant: str = "acme") -> dict[str, Any]:
        r = requests.post(self.api_url + path, json=body, headers=bearer(tenant), timeout=60)
        assert r.status_code == 202, r.text
        return r.json()

    def get(self, path: str, tenant: str = "acme") -> dict[str, Any]:
        r = requests.get(self.api_url + path, headers=bearer(tenant), timeout=30)
        assert r.status_code == 200, r.text
        return r.json()

    def batch(self, n: int, tenant: str = "acme", **extra: Any) -> str:
        docs = [{"text": f"{POSTING} {tenant} document {i}."} for i in range(n)]
        return self.post("/v1/batches", {"task": "job_posting_extraction", "documents": docs, **extra}, tenant)["id"]

    def job(self, tenant: str = "acme", **extra: Any) -> str:
        return self.post("/v1/jobs", {"task": "job_posting_extraction", "input": {"text": POSTING}, **extra},
                         tenant)["id"]

    def counts(self, batch_id: str, tenant: str = "acme") -> dict[str, int]:
        return self.get(f"/v1/batches/{batch_id}", tenant)["counts"]

    def waiting(self, queue: str) -> int:
        """Messages in a broker queue (not yet taken by a worker)."""
        return int(self.redis.llen(f"{self.prefix}:celery:{queue}"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def own(request: pytest.FixtureRequest, tmp_path: Path, sim: str) -> Iterator[Own]:
    prefix = f"{uuid.uuid4().hex[:8]}-fair"
    with fresh_database(request.param, tmp_path) as url:
        procs = Processes(tmp_path / "logs", env={
            **os.environ, "PROMPTQ_DATABASE_URL": url,
            "PROMPTQ_REDIS_PREFIX": prefix, "PROMPTQ_BATCH_QUEUE_DEPTH": str(DEPTH)})
        stack = Own(procs, prefix, redis=redis.Redis.from_url(REDIS_URL))
        try:
            stack.api_url = procs.api(free_port())
            yield stack
        finally:
            procs.stop()
            forget_redis_prefix(REDIS_URL, prefix)


def latency(sim: str, seconds: float) -> None:
    requests.post(f"{sim}/_sim/config", json={"ttft_s": seconds}, timeout=5).raise_for_status()


def test_another_tenants_batch_and_jobs_finish_long_before_a_big_batch(own: Own, sim: str) -> None:
    """Tenant acme's 200 documents are queued first; globex's batch of 10 and its 5 single
    jobs still finish while acme has most of its batch left: globex's documents wait
    behind at most the queue's depth of acme's, then go in turn with acme's."""
    latency(sim, 0.2)
    big = own.batch(200)
    # acme's messages are in the broker before globex's are sent (a publish of 10 can
    # otherwise overtake one of 200, which goes out in one pipeline when it is built)
    wait_until(lambda: own.waiting("batch") >= DEPTH, timeout_s=30, what="acme's batch published")
    own.start_worker()
    small = own.batch(10, tenant="globex")
    singles = [own.job(tenant="globex") for _ in range(5)]

    def globex_done() -> bool:
        return (own.counts(small, "globex")["succeeded"] == 10 and
                all(own.get(f"/v1/jobs/{j}", "globex")["status"] in TERMINAL for j in singles))

    wait_until(globex_done, timeout_s=180, interval_s=0.2, what="globex's batch and jobs")
    left = own.counts(big)
    assert left["queued"] >= 100, f"globex waited for acme's batch: {left}"
    assert all(own.get(f"/v1/jobs/{j}", "globex")["status"] == "succeeded" for j in singles)


def test_batch_documents_ride_the_batch_queue_whatever_priority_says(own: Own) -> None:
    """No worker yet: what the API published is still in Redis. A batch asking for
    `interactive` goes to the batch queue (as deep as the queue may be, the rest in the
    tenant's list); so does a single job asking for `batch`; a single interactive job rides
    the interactive queue."""
    own.batch(20, priority="interactive")
    own.job(priority="batch")
    own.job(priority="interactive")

    wait_until(lambda: own.waiting("batch") == DEPTH and own.waiting("interactive") == 1
               and own.waiting("batch.hold.acme") == 20 + 1 - DEPTH, timeout_s=30, what="the jobs published")
    assert (own.waiting("batch"), own.waiting("interactive")) == (DEPTH, 1)


def test_a_tenant_alone_runs_its_whole_batch_through_a_shallow_queue(own: Own, sim: str) -> None:
    """The relay refills the batch queue as the worker runs it: every document of a batch
    many times the queue's depth runs, and the queue never holds more than its depth."""
    latency(sim, 0.05)
    own.start_worker()
    batch_id = own.batch(60)
    most = 0

    def done() -> bool:
        nonlocal most
        most = max(most, own.waiting("batch"))
        return own.get(f"/v1/batches/{batch_id}")["status"] == "completed"

    wait_until(done, timeout_s=180, interval_s=0.05, what="the batch to complete")
    assert own.counts(batch_id)["succeeded"] == 60
    assert most <= DEPTH

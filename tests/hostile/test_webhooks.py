"""Hostile webhook receivers cannot stall LLM work, nor take more than their share.

A stack of its own (API and one worker of 4 threads, on a Redis prefix and a database
of its own, so the session's worker never sees these jobs), and receivers that trickle
one byte a second, flood header lines, or never resolve.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func
from sqlmodel import Session, select as sql_select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from promptq.hostile_receiver import HostileServer, header_flood, slow_header_flood, trickle
from promptq.launch import Processes, forget_redis_prefix
from promptq.receiver import WebhookReceiver
from promptq.store.engine import engine_for
from promptq.store.models import WebhookAttempt, WebhookDelivery
from promptq.store.status import DeliveryStatus
from promptq.workers.webhooks import sender
from support import REDIS_URL, bearer, fresh_database, wait_until

TEXT = "Senior Python Engineer at Globex (Berlin, hybrid). 5+ years of experience."
MAX_PER_HOST = 2


@pytest.fixture
def hostile():
    servers: list[HostileServer] = []

    def start(answer: Any) -> HostileServer:
        servers.append(HostileServer(answer))
        return servers[-1]
    yield start
    for server in servers:
        server.stop()


def _attempt(url: str, timeout_s: float) -> sender.AttemptResult:
    return asyncio.run(sender.post(url, "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_h", "{}",
                                   allowed_hosts=["127.0.0.1"], timeout_s=timeout_s,
                                   client=sender.WebhookClient()))


def test_a_header_flood_ends_the_attempt_as_failed_at_the_header_cap(hostile):
    result = _attempt(hostile(header_flood).url, timeout_s=60)
    assert not result.delivered and result.status_code is None
    assert result.error == "RemoteProtocolError", "the h11 header buffer cap, not the deadline, ended it"


def test_one_deadline_bounds_an_attempt_whose_every_read_gets_bytes_in_time(hostile):
    # a per-read timeout never fires here: a header line comes every 0.2 s
    assert _attempt(hostile(slow_header_flood).url, timeout_s=1).error == "TimeoutError"
    assert _attempt(hostile(trickle).url, timeout_s=1).error == "TimeoutError"


def test_a_resolver_that_hangs_fails_the_attempt_within_its_deadline(monkeypatch):
    release = threading.Event()

    def hanging(*args: object, **kwargs: object) -> object:
        release.wait(30)
        raise socket.gaierror("released")

    monkeypatch.setattr(socket, "getaddrinfo", hanging)
    try:
        result = asyncio.run(sender.post("http://hangs.example/hook", "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                                         "msg_d", "{}", allowed_hosts=[], timeout_s=10,
                                         client=sender.WebhookClient()))
    finally:
        release.set()
    assert not result.delivered and result.error.startswith("refused") and "did not resolve within" in result.error


def test_a_resolver_that_hangs_gives_a_422_at_submit_and_holds_few_threads(monkeypatch, tmp_path):
    from fastapi.testclient import TestClient

    from promptq.api.app import create_app
    from promptq.settings import Settings

    release = threading.Event()
    real = socket.getaddrinfo

    def hanging(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith("hangs.example"):
            release.wait(60)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", hanging)
    answers: list[requests.Response] = []
    try:
        with fresh_database("sqlite", tmp_path) as url, TestClient(create_app(Settings(database_url=url))) as api:
            def submit(i: int) -> None:
                answers.append(api.post("/v1/jobs", headers=bearer(), json={
                    "task": "job_posting_extraction", "input": {"text": TEXT},
                    "webhook_url": f"https://n{i}.hangs.example/hook"}))

            callers = [threading.Thread(target=submit, args=(i,), daemon=True) for i in range(20)]
            for caller in callers:
                caller.start()
            deadline = time.monotonic() + 30  # the resolver hangs 60 s: a submit that waits on it fails
            for caller in callers:
                caller.join(max(0.0, deadline - time.monotonic()))
            assert not any(c.is_alive() for c in callers), "a submit waited on the resolver"
            resolving = [t for t in threading.enumerate() if t.name.startswith("promptq-resolve")]
            assert len(resolving) <= 8, "resolutions that hang hold a bounded number of threads"
    finally:
        release.set()
    assert len(answers) == 20
    for r in answers:
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert error["type"] == "invalid_webhook_url" and "did not resolve within 2 s" in error["message"]


# --- a stack of its own ---------------------------------------------------------------


@dataclass
class Isolated:
    api: str
    engine: Any
    receiver: WebhookReceiver
    procs: Processes

    def post(self, path: str, tenant: str, body: dict[str, Any]) -> dict[str, Any]:
        r = requests.post(self.api + path, json=body, headers=bearer(tenant), timeout=30)
        assert r.status_code in (200, 202), r.text
        return r.json()

    def get(self, path: str, tenant: str) -> dict[str, Any]:
        r = requests.get(self.api + path, headers=bearer(tenant), timeout=30)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def isolated(request: pytest.FixtureRequest, sim_url: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Isolated]:
    tmp = tmp_path_factory.mktemp("hostile")
    prefix = f"{os.environ['PROMPTQ_REDIS_PREFIX']}-hostile-{uuid.uuid4().hex[:8]}"
    receiver = WebhookReceiver()
    with fresh_database(request.param, tmp) as url:
        procs = Processes(Path(tmp), env={**os.environ, "PROMPTQ_DATABASE_URL": url,
                                          "PROMPTQ_REDIS_PREFIX": prefix,
                                          "PROMPTQ_WEBHOOK_MAX_PER_HOST": str(MAX_PER_HOST)})
        try:
            api = procs.api(_free_port())
            procs.worker("worker", concurrency=4)  # few threads: one held by a receiver shows
            yield Isolated(api, engine_for(url), receiver, procs)
        finally:
            procs.stop()
            receiver.stop()
            forget_redis_prefix(REDIS_URL, prefix)


def _free_port() -> int:
    from promptq.launch import free_port
    return free_port()


def _deliveries(engine: Any, tenant: str) -> list[WebhookDelivery]:
    with Session(engine) as s:
        return list(s.exec(sql_select(WebhookDelivery).where(WebhookDelivery.tenant_id == tenant)))


def _attempts(engine: Any, delivery_ids: list[str]) -> int:
    with Session(engine) as s:
        return s.exec(sql_select(func.count()).select_from(WebhookAttempt)
                      .where(WebhookAttempt.delivery_id.in_(delivery_ids))).one()


# first of the stack's tests: the worker has not cached this tenant's secret yet
def test_after_a_rotation_deliveries_verify_with_the_new_and_the_previous_secret(isolated):
    tenant = "globex"
    old = isolated.get("/v1/webhooks/secret", tenant)["secret"]
    rotated = isolated.post("/v1/webhooks/secret/rotate", tenant, {})
    new = rotated["secret"]
    assert new != old and new.startswith("whsec_")
    assert isolated.get("/v1/webhooks/secret", tenant)["secret"] == new
    job = isolated.post("/v1/jobs", tenant, {"task": "job_posting_extraction", "input": {"text": TEXT},
                                             "webhook_url": isolated.receiver.url})
    [hit] = wait_until(lambda: isolated.receiver.for_object(job["id"]), timeout_s=120, what="the webhook")
    assert len(hit.headers["webhook-signature"].split(" ")) == 2
    for secret in (new, old):  # a receiver verifies with either while it switches
        Webhook(secret).verify(hit.body, hit.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").verify(hit.body, hit.headers)


def test_a_trickling_receiver_of_one_tenant_stalls_neither_the_other_tenant_nor_the_worker(isolated, hostile):
    trickler = hostile(trickle)
    docs = [{"text": f"{TEXT} Ref {i}."} for i in range(30)]
    batch = isolated.post("/v1/batches", "acme", {"task": "job_posting_extraction", "documents": docs,
                                                  "webhook_url": trickler.url})
    wait_until(lambda: trickler.requests >= MAX_PER_HOST, timeout_s=120,
               what="tenant A's webhooks to reach the trickling receiver")
    jobs = [isolated.post("/v1/jobs", "globex", {"task": "job_posting_extraction", "input": {"text": TEXT}})
            for _ in range(10)]

    def all_done() -> bool:
        return all(isolated.get(f"/v1/jobs/{j['id']}", "globex")["status"] == "succeeded" for j in jobs)

    wait_until(all_done, timeout_s=180, interval_s=0.5, what="tenant B's jobs (no webhook) to succeed")
    delivered_a = [d for d in _deliveries(isolated.engine, "acme") if d.status is DeliveryStatus.DELIVERED]
    assert delivered_a == [], "tenant A's receiver is still trickling: nothing of A's was delivered"
    # the worker's 4 threads were not held: A's whole batch finished too
    wait_until(lambda: isolated.get(f"/v1/batches/{batch['id']}", "acme")["status"] == "completed",
               timeout_s=180, interval_s=0.5, what="tenant A's batch to complete")
    # and A's deliveries are attempted again later, as failures are
    a_ids = [d.id for d in _deliveries(isolated.engine, "acme")]
    wait_until(lambda: _attempts(isolated.engine, a_ids) > len(a_ids), timeout_s=120,
               what="A's failed deliveries to be attempted again")
    assert trickler.most_at_once <= MAX_PER_HOST, "at most PROMPTQ_WEBHOOK_MAX_PER_HOST attempts at once"


def test_a_header_flood_is_a_failed_attempt_retried_later(isolated, hostile):
    flood = hostile(header_flood)
    job = isolated.post("/v1/jobs", "globex", {"task": "job_posting_extraction", "input": {"text": TEXT},
                                               "webhook_url": flood.url})

    def attempts() -> list[WebhookAttempt]:
        with Session(isolated.engine) as s:
            ids = [d.id for d in s.exec(sql_select(WebhookDelivery).where(
                WebhookDelivery.payload.contains(job["id"])))]
            return list(s.exec(sql_select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(ids))))

    made = wait_until(lambda: (a := attempts()) and len(a) >= 2 and a, timeout_s=120,
                      what="a first attempt and a retry")
    assert all(a.status_code is None and a.error == "RemoteProtocolError" for a in made)


def test_deliveries_waiting_in_a_worker_that_dies_are_delivered_by_another(isolated, hostile):
    healthy = threading.Event()

    def stalls_until_healthy(conn: socket.socket, stopping: threading.Event) -> None:
        if healthy.is_set():
            conn.sendall(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        else:
            trickle(conn, stopping)

    server = hostile(stalls_until_healthy)
    jobs = [isolated.post("/v1/jobs", "globex", {"task": "job_posting_extraction", "input": {"text": TEXT},
                                                 "webhook_url": server.url}) for _ in range(6)]
    # two attempts under way, the others waiting on the dying worker's webhook loop
    wait_until(lambda: server.requests >= MAX_PER_HOST, timeout_s=120, what="the first attempts")
    [(name, worker)] = [(n, p) for n, p in isolated.procs.children if n == "worker"]
    worker.kill()
    worker.wait(10)
    isolated.procs.children.remove((name, worker))
    healthy.set()
    isolated.procs.worker("worker-2", concurrency=4)

    def delivered() -> bool:
        with Session(isolated.engine) as s:
            rows = list(s.exec(sql_select(WebhookDelivery).where(WebhookDelivery.url == server.url)))
        return len(rows) == len(jobs) and all(d.status is DeliveryStatus.DELIVERED for d in rows)

    wait_until(delivered, timeout_s=180, interval_s=0.5, what="every delivery, by the second worker")

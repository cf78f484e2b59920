"""Webhook isolation: one tenant's trickling receiver must not stall another tenant's jobs.

Tenant A submits a batch (500 documents; 100 quick) whose webhooks go to a receiver
that accepts, reads the request and answers one byte a second, forever. Once A's
webhooks reach it, tenant B submits 20 single jobs without a webhook. One worker
(200 threads; 50 quick).

Figures: tenant B's 20 jobs, submit to all succeeded (target ≤ 60 s: before, B's jobs
did not finish within 60 s, every worker thread being held by A's receiver); the most
connections the trickling receiver had open at once (≤ PROMPTQ_WEBHOOK_MAX_PER_HOST);
A's batch, submit to completed.

    .venv/bin/python -m bench --quick --only webhooks --output /tmp/bench-webhooks.md
"""

from __future__ import annotations

import secrets
import time

import requests

from bench.report import Row
from bench.resilience_harness import log, stack
from promptq.hostile_receiver import HostileServer, trickle
from promptq.samples import job_posting

B_JOBS = 20
MAX_PER_HOST = 4  # the default of PROMPTQ_WEBHOOK_MAX_PER_HOST


def run(quick: bool) -> list[Row]:
    documents = 100 if quick else 500
    concurrency = 50 if quick else 200
    key_a, key_b = "bench-" + secrets.token_hex(16), "bench-" + secrets.token_hex(16)
    scenario = f"webhook isolation, A: {documents}-doc batch to a 1 B/s receiver"
    trickler = HostileServer(trickle)
    try:
        with stack("webhooks", extra_env={"PROMPTQ_API_KEYS": f"bench:{key_a},tenantb:{key_b}"}) as st:
            st.api_key = key_a
            st.start_sim()
            st.start_api()
            st.start_worker("worker1", concurrency)
            a_started = time.monotonic()
            docs = [{"custom_id": f"a-{i:05d}", "text": job_posting(i)} for i in range(documents)]
            r = requests.post(f"{st.api_url}/v1/batches", headers=st.headers, timeout=300, json={
                "task": "job_posting_extraction", "documents": docs, "webhook_url": trickler.url})
            r.raise_for_status()
            batch_id = r.json()["id"]
            deadline = time.monotonic() + 120
            while trickler.requests == 0 and time.monotonic() < deadline:
                time.sleep(0.2)
            log(f"webhooks: A's webhooks reach the trickler ({trickler.requests} requests)")
            b_headers = {"Authorization": f"Bearer {key_b}"}
            b_started = time.monotonic()
            b_ids = []
            for i in range(B_JOBS):
                r = requests.post(f"{st.api_url}/v1/jobs", headers=b_headers, timeout=60, json={
                    "task": "job_posting_extraction", "input": {"text": job_posting(i)}})
                r.raise_for_status()
                b_ids.append(r.json()["id"])
            b_wall = _wait(lambda: all(
                requests.get(f"{st.api_url}/v1/jobs/{j}", headers=b_headers, timeout=30).json()["status"]
                == "succeeded" for j in b_ids), 300, b_started)
            a_wall = _wait(lambda: requests.get(f"{st.api_url}/v1/batches/{batch_id}", headers=st.headers,
                                                timeout=30).json()["status"] == "completed", 600, a_started)
            delivered = st.q("SELECT count(*) FROM webhook_deliveries WHERE lower(status::text) = 'delivered'")
            log(f"webhooks: B {b_wall:.1f} s, A {a_wall:.1f} s, trickler most at once "
                f"{trickler.most_at_once} of {trickler.requests} requests; delivered {delivered[0][0]}")
    finally:
        trickler.stop()
    note = f"1 run ({'quick' if quick else 'full'}); 1 worker × {concurrency} threads; sim defaults"
    return [
        Row(scenario, f"tenant B: {B_JOBS} jobs, submit to all succeeded", b_wall, "s", target="≤ 60 s",
            met=b_wall <= 60, note=note),
        Row(scenario, "trickling receiver: connections open at once", trickler.most_at_once, "connections",
            target=f"≤ {MAX_PER_HOST} (PROMPTQ_WEBHOOK_MAX_PER_HOST)", met=trickler.most_at_once <= MAX_PER_HOST,
            note=f"{trickler.requests} attempts reached it"),
        Row(scenario, "tenant A: batch, submit to completed", a_wall, "s", note=note),
    ]


def _wait(done, timeout_s: float, started: float) -> float:  # type: ignore[no-untyped-def]
    """Seconds from `started` until `done()` (inf after `timeout_s`)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if done():
            return time.monotonic() - started
        time.sleep(0.5)
    return float("inf")

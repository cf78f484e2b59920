"""Fairness between tenants: tenant B's jobs while tenant A's 10,000-document batch runs.

promptq (API + 2 workers × 200 threads, PostgreSQL), simulator latency 1 s. Tenant A
submits one batch of 10,000 documents (2,000 with --quick); once it runs, tenant B
submits a 100-document batch, then single `interactive` jobs at a steady pace (one every
0.2 s: 100, 25 with --quick) while A's batch is still running. Figures:
- B's single jobs, submit → terminal (the client's clock before the POST → the job's
  `finished_at`), p50 and p95 over the run's jobs, median over runs; target p95 ≤ 2 s +
  the provider latency (issue 24 D);
- B's batch, submit → its last job terminal, seconds (no target: it waits behind at most
  the batch queue's depth of A's messages, PROMPTQ_BATCH_QUEUE_DEPTH, not behind A's
  whole batch).
The note says how much of A's batch was still open when B's last job finished, which
shows B's jobs did not wait for A's. A's batch is cancelled at the end of each run.
"""

from __future__ import annotations

import time
from datetime import datetime

import requests

from bench import harness as h
from bench.report import Row

LATENCY_S = 1.0
TARGET_S = 2.0 + LATENCY_S  # p95 of B's single jobs
PACE_S = 0.2
KEYS = {"tenant-a": "bench-tenant-a-key-0123456789abcdef", "tenant-b": "bench-tenant-b-key-0123456789abcdef"}


def _session(tenant: str) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {KEYS[tenant]}"
    return s


def _batch(http: requests.Session, pq: h.Promptq, docs: list[tuple[str, str]]) -> str:
    r = http.post(pq.api_url + "/v1/batches", timeout=300, json={
        "task": h.TASK, "documents": [{"custom_id": d, "text": t} for d, t in docs]})
    if r.status_code != 202:
        raise RuntimeError(f"batch submit answered {r.status_code}: {r.text[:300]}")
    return r.json()["id"]


def _open(pq: h.Promptq, batch_id: str) -> int:
    return pq.pg.execute("SELECT count(*) FROM jobs WHERE batch_id = %s AND lower(status::text) IN "
                         "('queued', 'running')", (batch_id,)).fetchone()[0]


def _finished(pq: h.Promptq, ids: list[str]) -> dict[str, datetime]:
    rows = pq.pg.execute("SELECT id, finished_at FROM jobs WHERE id = ANY(%s) AND finished_at IS NOT NULL",
                         (ids,)).fetchall()
    return dict(rows)


def one_run(pq: h.Promptq, sim: h.Sim, n_a: int, n_b: int, tag: str) -> dict[str, float]:
    sim.reset(ttft_s=LATENCY_S, tokens_per_s=0)
    a, b = _session("tenant-a"), _session("tenant-b")
    big = _batch(a, pq, [h.document(i, f"{tag}a") for i in range(n_a)])
    h.wait_until(lambda: pq.pg.execute("SELECT count(*) FROM jobs WHERE batch_id = %s AND "
                                       "lower(status::text) <> 'queued'", (big,)).fetchone()[0] >= 400,
                 120, "A's batch to fill the workers", 0.1)
    small_at = time.time()
    small = _batch(b, pq, [h.document(i, f"{tag}bb") for i in range(100)])
    submitted: dict[str, float] = {}
    next_at = time.monotonic()
    for i in range(n_b):
        time.sleep(max(0.0, next_at - time.monotonic()))
        next_at += PACE_S
        doc_id, text = h.document(i, f"{tag}b")
        t0 = time.time()
        r = b.post(pq.api_url + "/v1/jobs", timeout=30,
                   json={"task": h.TASK, "input": {"text": text}, "priority": "interactive"})
        r.raise_for_status()
        submitted[r.json()["id"]] = t0
    ids = list(submitted)
    h.wait_until(lambda: len(_finished(pq, ids)) == len(ids), 300, "B's jobs", 0.1)
    done = _finished(pq, ids)
    pq.wait_batch(small, 100, timeout_s=300)
    small_done = pq.pg.execute("SELECT max(finished_at) FROM jobs WHERE batch_id = %s", (small,)).fetchone()[0]
    a_open = _open(pq, big)
    a.post(f"{pq.api_url}/v1/batches/{big}/cancel", timeout=60)
    seconds = [h.epoch(done[i]) - submitted[i] for i in ids]
    result = {"p50": h.pct(seconds, 50), "p95": h.pct(seconds, 95), "batch_s": h.epoch(small_done) - small_at,
              "a_open": a_open}
    h.log(f"fairness {tag}: B's single jobs p50 {result['p50']:.2f} s, p95 {result['p95']:.2f} s; "
          f"B's batch {result['batch_s']:.1f} s; A had {a_open:,} of {n_a:,} open when B's were done")
    return result


def run(quick: bool) -> list[Row]:
    runs, n_a, n_b = (1, 2_000, 25) if quick else (3, 10_000, 100)
    sim = h.Sim("fairness-sim")
    pq = None
    results = []
    try:
        keys = ",".join(f"{t}:{k}" for t, k in KEYS.items())
        pq = h.Promptq(sim.url, name="fairness", extra_env={"PROMPTQ_API_KEYS": keys})
        for r in range(runs):
            results.append(one_run(pq, sim, n_a, n_b, f"fair{r}"))
            h.wait_until(lambda: pq.pg.execute("SELECT count(*) FROM jobs WHERE lower(status::text) IN "
                                               "('queued', 'running')").fetchone()[0] == 0,
                         300, "the cancelled batch to drain", 0.5)
        h.dump(results, "fairness.json")
    finally:
        if pq is not None:
            pq.stop()
        sim.stop()
    where = f"fairness: tenant B while tenant A's {n_a:,}-document batch runs, {LATENCY_S:g} s latency"
    p50, p95 = h.median([x["p50"] for x in results]), h.median([x["p95"] for x in results])
    a_open = h.median([x["a_open"] for x in results])
    note = f"A's batch still had {a_open:,.0f} of {n_a:,} jobs open when B's last single job finished"
    return [
        Row(where, "B's interactive job, submit → terminal, p50", p50, "s", runs=runs),
        Row(where, "B's interactive job, submit → terminal, p95", p95, "s",
            target=f"≤ {TARGET_S:g} s (2 s + provider latency)", met=p95 <= TARGET_S, note=note, runs=runs),
        Row(where, "B's 100-document batch, submit → all terminal", h.median([x["batch_s"] for x in results]),
            "s", runs=runs, note="waits behind at most the batch queue's depth (PROMPTQ_BATCH_QUEUE_DEPTH) of A's messages"),
    ]

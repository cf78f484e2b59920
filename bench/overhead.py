"""Orchestration overhead per job at light load: one job at a time, simulator latency 0.

promptq (API + 2 workers × 200 threads, PostgreSQL), for each job in turn:
- submit → provider: `POST /v1/jobs` returned (202) → the simulator received the call;
- provider → readable: the simulator sent its answer → `GET /v1/jobs/{id}` first returns
  the terminal status (polled every 2 ms from the submit on).
Baseline (bare Celery, `bench/baseline_app.py`, same workers): `send_task` returned →
the simulator received the call; the answer → the task's own end (no polling: Celery
keeps no result here).

Times in ms, p50 and p99 over the jobs of a run, median over runs. The note of a missed
target (and of the p50 rows) is the median timeline of promptq's jobs, from the store's
timestamps (claimed = `started_at`, `finished_at`) and the simulator's.
"""

from __future__ import annotations

import time
from typing import Any

from bench import harness as h
from bench.report import Row

TARGETS = {50: 20.0, 99: 100.0}  # ms
POLL_S = 0.002


def _promptq_run(pq: h.Promptq, sim: h.Sim, n: int, tag: str) -> dict[str, list[float]]:
    sim.reset(ttft_s=0, tokens_per_s=0)
    seen: list[tuple[str, float, float, dict[str, Any]]] = []
    for i in range(n):
        doc_id, text = h.document(i, tag)
        r = pq.http.post(pq.api_url + "/v1/jobs", timeout=30,
                         json={"task": h.TASK, "input": {"text": text}, "priority": "interactive"})
        submitted = time.time()
        r.raise_for_status()
        url = f"{pq.api_url}/v1/jobs/{r.json()['id']}"
        while True:
            job = pq.http.get(url, timeout=30).json()
            if job["status"] in h.TERMINAL:
                seen.append((doc_id, submitted, time.time(), job))
                break
            time.sleep(POLL_S)
    calls = sim.by_doc()
    out: dict[str, list[float]] = {"in": [], "out": [], "queue": [], "claim_call": [], "store": [], "poll": []}
    for doc_id, submitted, readable, job in seen:
        c = calls[doc_id]
        started, finished = _ts(job["started_at"]), _ts(job["finished_at"])
        out["in"].append((c["received_at"] - submitted) * 1000)
        out["out"].append((readable - c["responded_at"]) * 1000)
        out["queue"].append((started - submitted) * 1000)          # publish, broker, Celery, claim
        out["claim_call"].append((c["received_at"] - started) * 1000)  # claim → SDK request out
        out["store"].append((finished - c["responded_at"]) * 1000)   # parse, validate, ledger, finish
        out["poll"].append((readable - finished) * 1000)           # until a poll sees it
    return out


def _ts(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _baseline_run(base: h.Baseline, sim: h.Sim, n: int, tag: str) -> dict[str, list[float]]:
    sim.reset(ttft_s=0, tokens_per_s=0)
    base.clear()
    submitted: dict[str, float] = {}
    for i in range(n):
        doc_id, text = h.document(i, tag)
        base.publish([(doc_id, text)])
        submitted[doc_id] = time.time()
        while base.count() < i + 1:
            time.sleep(POLL_S / 2)
    calls, times = sim.by_doc(), base.times()
    return {"in": [(calls[d]["received_at"] - t) * 1000 for d, t in submitted.items()],
            "out": [(times[d][1] - calls[d]["responded_at"]) * 1000 for d in submitted]}


def run(quick: bool) -> list[Row]:
    runs, n = (1, 50) if quick else (3, 200)
    sim = h.Sim("overhead-sim")
    pq = base = None
    try:
        pq = h.Promptq(sim.url, workers=2, concurrency=200, name="overhead-promptq")
        base = h.Baseline(sim.url, workers=2, concurrency=200, name="overhead-baseline")
        _promptq_run(pq, sim, 20, "warm")
        _baseline_run(base, sim, 20, "warm")
        p: list[dict[str, list[float]]] = []
        b: list[dict[str, list[float]]] = []
        for r in range(runs):
            p.append(_promptq_run(pq, sim, n, f"p-{r}"))
            b.append(_baseline_run(base, sim, n, f"b-{r}"))
            h.log(f"overhead run {r + 1}/{runs}: promptq in/out p50 {h.pct(p[-1]['in'], 50):.1f}/"
                  f"{h.pct(p[-1]['out'], 50):.1f} ms, baseline {h.pct(b[-1]['in'], 50):.1f}/"
                  f"{h.pct(b[-1]['out'], 50):.1f} ms")
        h.dump({"promptq": p, "baseline": b}, "overhead.json")
    finally:
        for stack in (base, pq, sim):
            if stack is not None:
                stack.stop()
    return _rows(p, b, n)


def _rows(p: list[dict[str, list[float]]], b: list[dict[str, list[float]]], n: int) -> list[Row]:
    def med(runs: list[dict[str, list[float]]], key: str, q: int) -> float:
        return h.median([h.pct(x[key], q) for x in runs])

    timeline = ("promptq median timeline: submit → claimed {queue:.1f} ms (API publish after the 202, "
                "broker, Celery, claim UPDATE) → SDK request at the provider {claim_call:.1f} ms; "
                "answer → finished_at {store:.1f} ms (parse, validate, ledger, finish UPDATE) → "
                "seen by a poll {poll:.1f} ms").format(**{k: med(p, k, 50) for k in
                                                          ("queue", "claim_call", "store", "poll")})
    rows = []
    for key, label in (("in", "submit → provider"), ("out", "provider → readable by polling")):
        for q, target in TARGETS.items():
            value = med(p, key, q)
            met = value <= target
            note = timeline if not met or q == 50 else (
                "baseline: bare Celery, send_task returned → provider; provider → its task's end (no polling)")
            rows.append(Row(f"overhead, light load (1 job at a time, {n} jobs)", f"{label}, p{q}", value, "ms",
                            med(b, key, q), f"≤ {target:g} ms", met, note, len(p)))
    return rows

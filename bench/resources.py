"""Calls in flight and memory of ONE worker process at the shipped concurrency.

One `promptq worker` (concurrency: promptq's default `PROMPTQ_WORKER_CONCURRENCY`) with a
slow provider (simulator ttft 5 s) and 400 jobs queued at once (one batch). Measured:
- calls in flight: the most concurrent requests the simulator saw (its request log);
- peak RSS: the worker's process tree, sampled every 0.1 s (psutil), in MB (10^6 bytes).
Baseline: one bare-Celery worker (`bench/baseline_app.py`) at the same concurrency, same load.
"""

from __future__ import annotations

import time

from bench import harness as h
from bench.report import Row
from promptq.settings import Settings

LATENCY_S = 5.0
JOBS = 400
MIN_IN_FLIGHT = 200
MAX_RSS_MB = 400.0


def _promptq_run(pq: h.Promptq, sim: h.Sim, hooks: h.WebhookReceiver, tag: str) -> tuple[int, float]:
    sim.reset(ttft_s=LATENCY_S, tokens_per_s=0)
    with h.PeakRss(pq.worker_pids) as rss:
        batch = pq.submit_batch([h.document(i, tag) for i in range(JOBS)], hooks.url)
        pq.wait_batch(batch, JOBS, timeout_s=300)
        h.wait_until(lambda: hooks.count() >= JOBS + 1, 60, "webhooks")
    hooks.clear()
    return sim.requests()["max_in_flight"], rss.peak / 1e6


def _baseline_run(base: h.Baseline, sim: h.Sim, tag: str) -> tuple[int, float]:
    sim.reset(ttft_s=LATENCY_S, tokens_per_s=0)
    base.clear()
    with h.PeakRss(base.worker_pids) as rss:
        base.publish([h.document(i, tag) for i in range(JOBS)])
        h.wait_until(lambda: base.count() >= JOBS, 300, "baseline tasks", 0.2)
    return sim.requests()["max_in_flight"], rss.peak / 1e6


def run(quick: bool) -> list[Row]:
    runs = 1 if quick else 3
    concurrency = Settings.model_fields["worker_concurrency"].default
    sim = h.Sim("resources-sim")
    hooks = h.WebhookReceiver()
    pq = base = None
    p: list[tuple[int, float]] = []
    b: list[tuple[int, float]] = []
    try:
        pq = h.Promptq(sim.url, workers=1, concurrency=concurrency, name="resources-promptq")
        base = h.Baseline(sim.url, workers=1, concurrency=concurrency, name="resources-baseline")
        for r in range(runs):
            t0 = time.monotonic()
            p.append(_promptq_run(pq, sim, hooks, f"rp{r}"))
            b.append(_baseline_run(base, sim, f"rb{r}"))
            h.log(f"resources run {r + 1}/{runs} ({time.monotonic() - t0:.0f} s): promptq {p[-1][0]} in flight, "
                  f"{p[-1][1]:.0f} MB; baseline {b[-1][0]} in flight, {b[-1][1]:.0f} MB")
    finally:
        hooks.stop()
        for stack in (base, pq, sim):
            if stack is not None:
                stack.stop()
    where = f"1 worker process, -c {concurrency}, {LATENCY_S:g} s latency, {JOBS} jobs"
    flight, base_flight = h.median([x[0] for x in p]), h.median([x[0] for x in b])
    rss, base_rss = h.median([x[1] for x in p]), h.median([x[1] for x in b])
    return [
        Row(where, "calls in flight per process (max)", flight, "", base_flight, f"≥ {MIN_IN_FLIGHT}",
            flight >= MIN_IN_FLIGHT, runs=runs),
        Row(where, "worker peak RSS", rss, "MB", base_rss, f"< {MAX_RSS_MB:g} MB", rss < MAX_RSS_MB, runs=runs),
    ]

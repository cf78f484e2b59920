"""Throughput and CPU per job: promptq against a bare Celery app making the same call.

Both run 2 worker processes, thread pool, 200 threads each, on the same Redis and the
same simulator (task `job_posting_extraction`: claude-haiku-4-5, no streaming, forced
tool use). promptq: one `POST /v1/batches` → `promptq worker` → simulator → PostgreSQL
→ signed webhook to a local receiver. Baseline: `bench/baseline_app.py`, tasks published
straight to its queue.

- jobs/s: documents / (last job terminal − first submit), seconds on one clock; promptq's
  end is the largest `finished_at` in the store, the baseline's its last task's end.
- CPU per job: user + system CPU seconds of the process trees (promptq: API + workers;
  baseline: workers) over the run, until every webhook was received, per job, in ms.
  Also, without a target, the same including the simulator, redis-server and PostgreSQL
  (machine-wide processes: approximate, and only meaningful on a quiet machine). A missed
  target's note adds the system CPU and the context switches per job of both.
- At 0 s latency the same runs give the orchestration overhead at saturation, per job:
  claim → provider (`started_at` → the simulator's `received_at`) and provider → terminal
  (`responded_at` → `finished_at`), in ms; the baseline's from its task's own start/end.

Runs alternate promptq/baseline (and which goes first) so drift in machine load hits both.
Full: 3,000 jobs at 0 s and 2,000 at 1 s, 3 runs each (a promptq run lasts 10–20 s; the
baseline's 6–7 s); quick: 1,000 and 1,000, one run (with fewer jobs at 1 s the baseline's
400 threads are still filling when the run ends, which flatters promptq). A missed target
gets one more run of half as many jobs on each stack, under py-spy at 250 samples/s (a
few hundred GIL-held samples at 100/s left the shares a few points apart between runs),
for its note: promptq's time by library and by innermost promptq function, and both
stacks' GIL-held CPU ms per job by what it was spent for (the SDK call, Celery/kombu,
store statements, webhook POSTs, …: bench/pyspy.py `per_job_by_role`), and, from the
kernel's per-thread account, both stacks' CPU ms and context switches per job by thread
(the jobs' pool threads, the claimer, the finisher, …: bench/threads.py). The two differ:
GIL-held samples also count a GIL holder the kernel has descheduled, so they are wall
time, not CPU.
"""

from __future__ import annotations

import time
from typing import Any

from bench import harness as h
from bench import pyspy, threads
from bench.report import Row

TARGET_RATIO = 0.80
CPU_RATIO = 1.5


def promptq_run(pq: h.Promptq, sim: h.Sim, hooks: h.WebhookReceiver, n: int, tag: str,
                 latency: float) -> dict[str, Any]:
    """One batch of `n` documents through promptq at `latency` seconds per call: jobs/s,
    CPU per job (bench.ab runs it too)."""
    sim.reset(ttft_s=latency, tokens_per_s=0)
    hooks.clear()
    docs = [h.document(i, tag) for i in range(n)]
    cost = _Cost(pq.pids(), sim)
    t0 = time.time()
    with h.MachineBusy() as machine:
        batch = pq.submit_batch(docs, hooks.url)
        running = pq.wait_batch(batch, n, timeout_s=60 + n / 5)
    jobs = pq.jobs(batch)
    end = max(h.epoch(finished) for *_, finished in jobs)
    h.wait_until(lambda: hooks.count() >= n + 1, 120, "webhooks")  # + batch.completed
    out = {"jobs_per_s": n / (end - t0), **cost.per_job(n), "busy": machine.busy,
           "running": h.median(running) if running else 0,
           "not_succeeded": sum(status != "succeeded" for _, status, *_ in jobs),
           "webhooks": hooks.count(), "webhooks_invalid": hooks.invalid_signatures(pq.webhook_secret())}
    if latency == 0:
        calls = sim.by_doc()
        pairs = [(calls[d], s, f) for d, _, s, f in jobs if d in calls]
        out["in_ms"] = [(c["received_at"] - h.epoch(s)) * 1000 for c, s, _ in pairs]
        out["out_ms"] = [(h.epoch(f) - c["responded_at"]) * 1000 for c, _, f in pairs]
    return out


def _baseline_run(base: h.Baseline, sim: h.Sim, n: int, tag: str, latency: float) -> dict[str, Any]:
    sim.reset(ttft_s=latency, tokens_per_s=0)
    base.clear()
    docs = [h.document(i, tag) for i in range(n)]
    cost = _Cost(base.pids(), sim)
    t0 = time.time()
    with h.MachineBusy() as machine:
        base.publish(docs)
        h.wait_until(lambda: base.count() >= n, 60 + n / 5, "baseline tasks", 0.2)
    out = {"jobs_per_s": n / (base.last_done() - t0), **cost.per_job(n), "busy": machine.busy}
    if latency == 0:
        calls, times = sim.by_doc(), base.times()
        pairs = [(calls[d], times[d]) for d in times if d in calls]
        out["in_ms"] = [(c["received_at"] - start) * 1000 for c, (start, _) in pairs]
        out["out_ms"] = [(done - c["responded_at"]) * 1000 for c, (_, done) in pairs]
    return out


class _Cost:
    """CPU a stack's processes (and, approximately, the shared simulator, Redis and
    PostgreSQL) use from its creation until `per_job`."""

    def __init__(self, pids: list[int], sim: h.Sim) -> None:
        self._pids, self._services = pids, [*sim.pids(), *h.service_pids()]
        self._mine, self._shared = h.usage(pids), h.usage(self._services)

    def per_job(self, n: int) -> dict[str, float]:
        """Per job: CPU ms of the stack, the same with the services, the stack's system
        CPU ms and context switches."""
        mine, shared = h.usage(self._pids) - self._mine, h.usage(self._services) - self._shared
        return {"cpu_ms": mine.cpu_s / n * 1000, "all_cpu_ms": (mine.cpu_s + shared.cpu_s) / n * 1000,
                "sys_ms": mine.system_s / n * 1000, "switches": mine.switches / n}


def _profile(pq: h.Promptq, base: h.Baseline, sim: h.Sim, hooks: h.WebhookReceiver, n: int,
             latency: float) -> str:
    """One extra, unmeasured run of each stack under py-spy: where promptq's API and
    workers spend CPU, and the same split for the baseline's workers."""
    if pyspy.binary() is None:
        return pyspy.describe({}, "")
    rate = 250
    with (pyspy.Recording(pq.pids(), h.LOG_ROOT / "profiles", f"throughput-{latency:g}s", rate=rate) as rec,
          threads.ThreadUse(pq.pids(), {pq.api_pid: "API"}) as by_thread):
        promptq_run(pq, sim, hooks, n, f"prof{latency:g}", latency)
    with (pyspy.Recording(base.pids(), h.LOG_ROOT / "profiles", f"throughput-baseline-{latency:g}s",
                          rate=rate) as base_rec,
          threads.ThreadUse(base.pids()) as base_by_thread):
        _baseline_run(base, sim, n, f"bprof{latency:g}", latency)
    h.log(f"throughput {latency:g} s: profiled one more run of {n} jobs on each stack")
    roles = (f"GIL-held CPU ms per job by what it was spent for (same runs; approximate): promptq "
             f"{pyspy.describe_roles(pyspy.per_job_by_role(rec.stacks, rate, n))}; baseline "
             f"{pyspy.describe_roles(pyspy.per_job_by_role(base_rec.stacks, rate, n))}")
    cpu = (f"CPU ms and context switches (sw) per job by thread (the kernel's account, same runs): promptq "
           f"{threads.describe(by_thread.per_job(n))}; baseline {threads.describe(base_by_thread.per_job(n))}")
    return pyspy.describe(pyspy.summarise(rec.stacks), f"API + 2 workers, {n} jobs") + ". " + roles + ". " + cpu


def run(quick: bool) -> list[Row]:
    runs = 1 if quick else 3
    sizes = {0.0: 1000, 1.0: 1000} if quick else {0.0: 3000, 1.0: 2000}
    rows: list[Row] = []
    sim = h.Sim("throughput-sim")
    hooks = h.WebhookReceiver()
    pq = base = None
    try:
        pq = h.Promptq(sim.url, workers=2, concurrency=200, name="throughput-promptq")
        base = h.Baseline(sim.url, workers=2, concurrency=200, name="throughput-baseline")
        warm = 50 if quick else 150
        h.log(f"throughput: warm-up ({warm} jobs each, not measured)")
        promptq_run(pq, sim, hooks, warm, "warm", 0.0)
        _baseline_run(base, sim, warm, "warm", 0.0)
        everything: list[dict[str, list[dict[str, Any]]]] = []
        for latency, n in sizes.items():
            results: dict[str, list[dict[str, Any]]] = {"promptq": [], "baseline": []}
            for r in range(runs):
                order = ("promptq", "baseline") if r % 2 == 0 else ("baseline", "promptq")
                for who in order:
                    tag = f"{who[0]}{latency:g}-{r}"
                    res = (promptq_run(pq, sim, hooks, n, tag, latency) if who == "promptq"
                           else _baseline_run(base, sim, n, tag, latency))
                    results[who].append(res)
                    h.log(f"throughput {latency:g} s, run {r + 1}/{runs}, {who}: {res['jobs_per_s']:.1f} jobs/s, "
                          f"{res['cpu_ms']:.1f} ms CPU/job, machine {res['busy']:.0%} busy"
                          + (f", median {res['running']:.0f} jobs running" if "running" in res else ""))
            h.log(f"throughput {latency:g} s: at most {pq.max_connections} PostgreSQL connections to promptq's DB")
            h.dump(results, f"throughput-{latency:g}s.json")
            everything.append(results)
            rows += _rows(latency, n, results,
                          lambda: _profile(pq, base, sim, hooks, max(100, n // 2), latency))
        expected = sum(n + 1 for n in sizes.values()) * runs  # a job.succeeded each, a batch.completed
        received = sum(x["webhooks"] - x["webhooks_invalid"] for res in everything for x in res["promptq"])
        rows.append(Row("throughput, all measured promptq runs", "webhooks received with a valid signature",
                        100 * received / expected, "%", target="100 %", met=received == expected, runs=runs))
    finally:
        hooks.stop()
        for stack in (base, pq, sim):
            if stack is not None:
                stack.stop()
    return rows


def _rows(latency: float, n: int, results: dict[str, list[dict[str, Any]]], profile) -> list[Row]:
    p, b = results["promptq"], results["baseline"]
    runs = len(p)
    where = f"{latency:g} s latency, {n} jobs"
    jps, base_jps = h.median([x["jobs_per_s"] for x in p]), h.median([x["jobs_per_s"] for x in b])
    cpu, base_cpu = h.median([x["cpu_ms"] for x in p]), h.median([x["cpu_ms"] for x in b])
    failed = sum(x["not_succeeded"] for x in p)
    speed_met = jps >= TARGET_RATIO * base_jps
    cpu_met = cpu <= CPU_RATIO * base_cpu
    busy, base_busy = h.median([x["busy"] for x in p]), h.median([x["busy"] for x in b])
    note = "" if speed_met and cpu_met else (
        f"promptq's API + workers used {cpu * jps / 1000:.2f} of 2 cores ({cpu:.1f} ms × {jps:.0f} jobs/s), "
        f"the machine was {busy:.0%} busy (baseline: {base_cpu * base_jps / 1000:.2f} cores, {base_busy:.0%}); "
        f"median {h.median([x['running'] for x in p]):.0f} jobs running at once (of 400 threads); "
        f"per job {h.median([x['sys_ms'] for x in p]):.2f} ms of it system CPU and "
        f"{h.median([x['switches'] for x in p]):.0f} context switches over all threads (baseline "
        f"{h.median([x['sys_ms'] for x in b]):.2f} ms, {h.median([x['switches'] for x in b]):.0f}): "
        f"blocking round trips, each a GIL hand-off. {profile()}")
    if failed:
        note = f"{failed} jobs did not succeed. " + note
    rows = [
        Row(f"throughput, {where}", "jobs/s", jps, "jobs/s", base_jps, f"≥ {TARGET_RATIO:.2f} × baseline",
            speed_met, note if not speed_met else "", runs),
        Row(f"CPU per job, {where}", "CPU ms/job (API + workers)", cpu, "ms", base_cpu,
            f"≤ {CPU_RATIO:g} × baseline", cpu_met, note if not cpu_met else "", runs),
        Row(f"CPU per job, {where}", "CPU ms/job incl. simulator, Redis, PostgreSQL",
            h.median([x["all_cpu_ms"] for x in p]), "ms", h.median([x["all_cpu_ms"] for x in b]), runs=runs,
            note="machine-wide server processes: approximate"),
    ]
    if latency == 0:
        for key, label in (("in_ms", "claim → provider"), ("out_ms", "provider → terminal")):
            for q in (50, 99):
                value = h.median([h.pct(x[key], q) for x in p])
                base_value = h.median([h.pct(x[key], q) for x in b])
                rows.append(Row(f"overhead at saturation ({where})", f"{label}, p{q}", value, "ms",
                                base_value, runs=runs,
                                note="baseline: its task's start → provider, provider → task end"))
    return rows

"""Where one job's CPU goes: `JobRunner.run` on one thread, without Celery or the API.

The throughput runs say how much CPU promptq spends per job under load; this says on
what, without contention. A child process (fresh settings: PostgreSQL, the simulator
at zero latency, a webhook receiver in the parent) runs the jobs one after another
and reads each of its threads' CPU (bench/threads.py): the job's own thread (limiter,
SDK call, validation, webhook POST) and the threads that work for it (claimer: the
claim; finisher: ledger row + terminal state + outbox; events: live events and
counters; webhook records: delivered attempts). Baselines, same child, same run:

- the bare SDK call: the request the throughput baseline makes (bench/baseline_app.py),
  on one thread, so that the ratio is "a whole job / the call it wraps";
- the claim's UPDATE … RETURNING as promptq runs it (store/direct.py: SQLAlchemy's
  compiled statement and type processors on the driver's cursor), alone (the job
  thread's claim here: a claim group of one) and ten to a statement (`claim_many`, as
  the claimer thread makes claims that arrive together under load), and through
  SQLAlchemy's Connection, each against the same compiled statement on a bare psycopg
  cursor held open: what each way adds to a statement.

Full: 3 runs of 1,000 jobs (each ~10 s); quick: one run of 300.
"""

from __future__ import annotations

import enum
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from typing import Any

from bench import harness as h
from bench.report import Row

THREADS = {"MainThread": "job thread", "promptq-claimer": "claimer", "promptq-finisher": "finisher",
           "promptq-events": "events", "promptq-webhook-records": "webhook records"}


def run(quick: bool) -> list[Row]:
    runs, n = (1, 300) if quick else (3, 1000)
    sim = h.Sim("breakdown-sim")
    hooks = h.WebhookReceiver()
    results: list[dict[str, Any]] = []
    try:
        for r in range(runs):
            with h.postgres_database() as db_url:
                env = h.base_env(f"pqbench-breakdown-{uuid.uuid4().hex[:8]}") | {
                    "PROMPTQ_DATABASE_URL": db_url, "PROMPTQ_SIM_URL": sim.url}
                sim.reset(ttft_s=0, tokens_per_s=0)
                out = subprocess.run([sys.executable, "-m", "bench.breakdown", str(n), hooks.url],
                                     env=env, capture_output=True, text=True, timeout=600, check=False)
                if out.returncode != 0:
                    raise RuntimeError(f"breakdown child failed: {out.stderr[-2000:]}")
                res = json.loads(out.stdout.strip().splitlines()[-1])
                h.clean_redis(env["PROMPTQ_REDIS_PREFIX"])
            results.append(res)
            h.log(f"breakdown run {r + 1}/{runs}: {res['job_ms']:.2f} ms CPU/job, SDK call alone "
                  f"{res['sdk_ms']:.2f} ms; by thread "
                  + ", ".join(f"{name} {ms:.2f} ms" for name, ms in res["threads"].items()))
    finally:
        hooks.stop()
        sim.stop()
    h.dump(results, "breakdown.json")
    med = lambda key: h.median([x[key] for x in results])  # noqa: E731
    where = f"one job at a time on one thread, no Celery, 0 s latency, {n} jobs"
    threads = {name: h.median([x["threads"].get(name, 0.0) for x in results]) for name in THREADS.values()}
    split = ", ".join(f"{name} {ms:.2f} ms" for name, ms in threads.items())
    rows = [Row(where, "CPU ms/job (JobRunner.run, all threads)", med("job_ms"), "ms", med("sdk_ms"), runs=runs,
                note=f"baseline: the bare SDK call (the throughput baseline's request) on one thread; "
                     f"by thread: {split}")]
    rows += [Row(where, f"CPU ms/job, {name}", ms, "ms", runs=runs) for name, ms in threads.items()]
    claims = f"claim statement (UPDATE … RETURNING), {n} jobs"
    bare = "baseline: the same compiled statement on a bare psycopg cursor, held open"
    rows.append(Row(claims, "CPU µs/claim as promptq runs it (store/direct.py)", med("claim_us"), "µs",
                    med("claim_raw_us"), runs=runs, note=bare))
    rows.append(Row(claims, "CPU µs/claim in groups of ten, one statement (claim_many)", med("claim_group_us"),
                    "µs", med("claim_raw_us"), runs=runs, note=bare + " (one claim per statement)"))
    rows.append(Row(claims, "CPU µs/claim through SQLAlchemy's Connection", med("claim_sqla_us"), "µs",
                    med("claim_raw_us"), runs=runs, note=bare))
    return rows


# -- the child ------------------------------------------------------------------

def _thread_cpu() -> dict[str, float]:
    """CPU seconds of each of this process's Python threads, by thread name (the kernel's
    per-thread account, bench/threads.py)."""
    import os
    import threading

    from bench.threads import cpu_s_by_thread

    by_id = cpu_s_by_thread(os.getpid())
    return {t.name: by_id.get(t.native_id, 0.0) for t in threading.enumerate()}


def _child(n: int, hook_url: str) -> dict[str, Any]:
    from sqlmodel import Session

    from bench import baseline_app
    from promptq.api.submission import insert_jobs, job_row
    from promptq.prompts.registry import get_task
    from promptq.settings import get_settings
    from promptq.store import jobs
    from promptq.store.engine import autocommit
    from promptq.store.models import Tenant, utcnow
    from promptq.store.status import Priority
    from promptq.workers.pipeline import JobRunner
    from promptq.workers.runtime import build_runtime

    rt = build_runtime(get_settings())
    task = get_task(h.TASK)
    warm = 50

    def rows(count: int, tag: str) -> list[dict[str, Any]]:
        made = [job_row(tenant="bench", task=task, text=text, priority=Priority.BATCH, webhook_url=hook_url,
                        metadata=None, custom_id=doc) for doc, text in (h.document(i, tag) for i in range(count))]
        with Session(rt.engine) as s:
            insert_jobs(s, made)
            s.commit()
        return made

    with Session(rt.engine) as s:
        s.add(Tenant(id="bench", webhook_secret="whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
        s.commit()
    runner = JobRunner(rt)
    for row in rows(warm, "warm"):
        runner.run(row["id"])
    todo = rows(n, "run")
    before, cpu0 = _thread_cpu(), time.process_time()
    for row in todo:
        outcome = runner.run(row["id"])
        assert outcome.status == "succeeded", outcome
    time.sleep(0.2)  # the writers' last lingering writes (sleeping costs no CPU)
    job_s = time.process_time() - cpu0
    after = _thread_cpu()
    threads = {label: (after.get(name, 0.0) - before.get(name, 0.0)) / n * 1000 for name, label in THREADS.items()}

    # the bare SDK call, as the throughput baseline makes it
    os.environ["BENCH_SIM_URL"] = os.environ["PROMPTQ_SIM_URL"]
    docs = [h.document(i, "sdk") for i in range(n)]
    for _, text in docs[:warm]:
        baseline_app.call_provider(text)
    cpu0 = time.process_time()
    for _, text in docs:
        baseline_app.call_provider(text)
    sdk_s = time.process_time() - cpu0

    # the claim statement as promptq runs it, alone and in groups of ten (workers/claimer.py),
    # through SQLAlchemy's Connection, on the bare cursor
    ids = [row["id"] for row in rows(n, "claim")]
    cpu0 = time.process_time()
    for job_id in ids:
        jobs.claim(rt.engine, job_id, 30)
    claim_s = time.process_time() - cpu0
    ids = [row["id"] for row in rows(n, "group")]
    cpu0 = time.process_time()
    for i in range(0, n, 10):
        jobs.claim_many(rt.engine, ids[i:i + 10], 30)
    group_s = time.process_time() - cpu0

    def claim_params(job_id: str) -> dict[str, Any]:
        now = utcnow()
        return {"p_job_id": job_id, "p_due_by": now + timedelta(seconds=1), "p_token": uuid.uuid4().hex,
                "p_lease_s": 30.0, "p_now": now}

    ids = [row["id"] for row in rows(n, "sqla")]
    cpu0 = time.process_time()
    for job_id in ids:
        with autocommit(rt.engine).connect() as conn:
            assert conn.execute(jobs._CLAIM, claim_params(job_id)).mappings().first() is not None
    sqla_s = time.process_time() - cpu0
    compiled = jobs._CLAIM.compile(dialect=rt.engine.dialect)
    sql = str(compiled)
    raw = rt.engine.raw_connection()
    raw.driver_connection.autocommit = True
    ids = [row["id"] for row in rows(n, "raw")]
    cpu0 = time.process_time()
    for job_id in ids:
        params_ = compiled.construct_params(claim_params(job_id))
        with raw.driver_connection.cursor() as cur:  # enums are stored by name, as SQLAlchemy does
            cur.execute(sql, {k: v.name if isinstance(v, enum.Enum) else v for k, v in params_.items()})
            assert cur.fetchone() is not None
    raw_s = time.process_time() - cpu0
    raw.close()
    return {"job_ms": job_s / n * 1000, "sdk_ms": sdk_s / n * 1000, "threads": threads,
            "claim_us": claim_s / n * 1e6, "claim_group_us": group_s / n * 1e6, "claim_sqla_us": sqla_s / n * 1e6,
            "claim_raw_us": raw_s / n * 1e6}


if __name__ == "__main__":
    print(json.dumps(_child(int(sys.argv[1]), sys.argv[2])))

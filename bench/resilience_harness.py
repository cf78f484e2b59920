"""Shared plumbing of the resilience benchmarks (chaos, rate limit, crash).

One `Stack` per run: a throwaway PostgreSQL database, a unique Redis key prefix on
Redis DB 11, and promptq's own processes started as a user would start them
(`promptq sim`, `promptq api`, `promptq worker`) through `promptq.launch.Processes`,
plus a local webhook receiver that records (and verifies) every delivery.

Figures are read where they are true: job states and the ledger from the database,
what the provider saw from the simulator's `/_sim/stats`, what the client was told
from the webhook receiver.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import psycopg
import requests

from promptq.launch import Processes, forget_redis_prefix, free_port, wait_for
from promptq.receiver import Delivery, WebhookReceiver
from promptq.store.migrate import upgrade

PG_ADMIN_URL = os.environ.get("PROMPTQ_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("PROMPTQ_BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
# PROMPTQ_BENCH_KEEP=1 keeps the database and Redis keys of each run for a post-mortem.
KEEP = os.environ.get("PROMPTQ_BENCH_KEEP") == "1"
# e.g. DEBUG: the workers' log level for a post-mortem (httpcore then logs every connection event).
WORKER_LOGLEVEL = os.environ.get("PROMPTQ_BENCH_WORKER_LOGLEVEL", "")
LOG_ROOT = Path(os.environ.get("PROMPTQ_BENCH_LOG_DIR", "/tmp/promptq-bench-resilience"))
TERMINAL = ("succeeded", "failed", "needs_review", "cancelled")
OPEN = ("queued", "running")
# PostgreSQL stores the status enums by member NAME (SUCCEEDED); this reads them as the API shows them.
STATUS = "lower(status::text)"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# -- webhook receiver -------------------------------------------------------


@dataclass(frozen=True)
class WebhookAudit:
    deliveries: int             # job.* POSTs received
    jobs_notified: int          # distinct jobs with at least one job.* delivery
    jobs_missing: int           # expected jobs with none
    jobs_conflicting: int       # jobs with > 1 distinct terminal type
    jobs_duplicated: int        # jobs with > 1 delivery at all (same or different webhook-id)
    jobs_two_events: int        # jobs with > 1 distinct webhook-id (two terminal events)
    unverified: int             # deliveries whose signature did not verify
    batch_events: int           # batch.completed POSTs
    mismatched_status: int      # jobs whose (last) webhook type differs from the DB status


def audit_webhooks(deliveries: Sequence[Delivery], job_status: dict[str, str]) -> WebhookAudit:
    by_job: dict[str, list[Delivery]] = defaultdict(list)
    batch = 0
    for d in deliveries:
        if d.event_type.startswith("job.") and d.object_id:
            by_job[d.object_id].append(d)
        elif d.event_type == "batch.completed":
            batch += 1
    conflicting = sum(len({d.event_type for d in ds}) > 1 for ds in by_job.values())
    duplicated = sum(len(ds) > 1 for ds in by_job.values())
    two_events = sum(len({d.webhook_id for d in ds}) > 1 for ds in by_job.values())
    missing = sum(1 for j in job_status if j not in by_job)
    mismatched = sum(1 for j, ds in by_job.items()
                     if j in job_status and ds[-1].event_type != f"job.{job_status[j]}")
    return WebhookAudit(
        deliveries=sum(len(ds) for ds in by_job.values()), jobs_notified=len(by_job),
        jobs_missing=missing, jobs_conflicting=conflicting, jobs_duplicated=duplicated,
        jobs_two_events=two_events, unverified=sum(not d.verified for d in deliveries),
        batch_events=batch, mismatched_status=mismatched)


# -- the stack ----------------------------------------------------------------


@dataclass
class Stack:
    name: str
    workdir: Path
    procs: Processes
    db_url: str
    redis_url: str
    prefix: str
    api_key: str
    sim_url: str = ""
    api_url: str = ""
    receiver: WebhookReceiver | None = None
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)
    _db: psycopg.Connection | None = None

    # --- processes
    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def start_sim(self, *args: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
        """`promptq sim --port P ARGS…`, then reset and `/_sim/config`; returns the live config."""
        port = int(self.sim_url.rsplit(":", 1)[1])
        self.procs.sim(port, *args)
        return self.sim_reset(config)

    def sim_reset(self, config: dict[str, Any] | None = None) -> dict[str, Any]:
        """Reset first (it restores the start config), then apply `config`; returns the live config."""
        requests.post(f"{self.sim_url}/_sim/reset", timeout=10).raise_for_status()
        if config:
            r = requests.post(f"{self.sim_url}/_sim/config", json=config, timeout=10)
            r.raise_for_status()
        live = requests.get(f"{self.sim_url}/_sim/config", timeout=10).json()
        for k, v in (config or {}).items():
            if k != "fault_rates" and live.get(k) != v:
                raise RuntimeError(f"simulator config {k}={live.get(k)!r}, wanted {v!r}")
        return live

    def sim_stats(self) -> dict[str, Any]:
        return requests.get(f"{self.sim_url}/_sim/stats", timeout=10).json()

    def start_api(self) -> None:
        self.api_url = self.procs.api(free_port())
        self.receiver = WebhookReceiver()
        r = requests.get(f"{self.api_url}/v1/webhooks/secret", headers=self.headers, timeout=10)
        r.raise_for_status()
        self.receiver.secret = r.json()["secret"]

    def start_worker(self, name: str, concurrency: int) -> subprocess.Popen:
        """`promptq worker -c N` (as `Processes.worker`, plus PROMPTQ_BENCH_WORKER_LOGLEVEL if set)."""
        if WORKER_LOGLEVEL:
            proc = self.procs.promptq(name, "worker", "-c", str(concurrency), "--hostname", f"{name}@%h",
                                      "--loglevel", WORKER_LOGLEVEL)
            log_path = self.procs.log_dir / f"{name}.log"
            wait_for(lambda: b"ready." in log_path.read_bytes(), 60, f"the {name}", proc)
        else:
            proc = self.procs.worker(name, concurrency=concurrency)
        self.workers[name] = proc
        return proc

    def kill_worker(self, name: str) -> list[int]:
        """SIGKILL the worker's whole process tree (with the threads pool: one process)."""
        proc = self.workers.pop(name)
        pids = _tree(proc.pid)
        for pid in reversed(pids):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(10)
        return pids

    # --- submitting
    def submit_batch(self, task: str, texts: Sequence[str], *, webhook: bool = True,
                     custom_prefix: str = "doc") -> str:
        docs = [{"custom_id": f"{custom_prefix}-{i:05d}", "text": t} for i, t in enumerate(texts)]
        body: dict[str, Any] = {"task": task, "documents": docs}
        if webhook:
            assert self.receiver is not None
            body["webhook_url"] = self.receiver.url
        r = requests.post(f"{self.api_url}/v1/batches", json=body, headers=self.headers, timeout=300)
        if r.status_code >= 400:
            raise RuntimeError(f"batch submit: {r.status_code} {r.text[:300]}")
        return r.json()["id"]

    # --- the store
    def db(self) -> psycopg.Connection:
        if self._db is None or self._db.closed:
            self._db = psycopg.connect(self.db_url, autocommit=True)
        return self._db

    def q(self, sql: str, *params: Any) -> list[tuple]:
        with self.db().cursor() as cur:
            cur.execute(sql, params or None)
            return cur.fetchall()

    def status_counts(self) -> dict[str, int]:
        return {s: n for s, n in self.q(f"SELECT {STATUS}, count(*) FROM jobs GROUP BY 1")}

    def job_statuses(self) -> dict[str, str]:
        return {j: s for j, s in self.q(f"SELECT id, {STATUS} FROM jobs")}

    def ledger_count(self) -> int:
        return self.q("SELECT count(*) FROM ledger")[0][0]

    def wait_terminal(self, total: int, timeout_s: float, *, every_s: float = 1.0,
                      on_tick: Callable[[dict[str, int]], None] | None = None) -> dict[str, int]:
        deadline = time.monotonic() + timeout_s
        last_log = 0.0
        while True:
            counts = self.status_counts()
            done = sum(counts.get(s, 0) for s in TERMINAL)
            if on_tick:
                on_tick(counts)
            if time.monotonic() - last_log > 15:
                log(f"{self.name}: {done}/{total} terminal {counts}")
                last_log = time.monotonic()
            if done >= total and sum(counts.values()) >= total:
                return counts
            if time.monotonic() > deadline:
                log(f"{self.name}: TIMEOUT with {done}/{total} terminal {counts}")
                return counts
            for name, proc in self.workers.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"worker {name} exited with {proc.returncode}; see {self.workdir}")
            time.sleep(every_s)

    def wait_webhooks(self, job_ids: Sequence[str], timeout_s: float, settle_s: float = 3.0) -> None:
        """Until every job has had a job.* delivery, then `settle_s` more for late duplicates."""
        assert self.receiver is not None
        wanted = set(job_ids)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            seen = {d.object_id for d in self.receiver.deliveries if d.event_type.startswith("job.")}
            if wanted <= seen:
                break
            time.sleep(0.5)
        time.sleep(settle_s)

    def log_grep(self, needle: str) -> int:
        n = 0
        for p in (self.workdir / "logs").glob("*.log"):
            n += p.read_bytes().count(needle.encode())
        return n


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (parents first), from /proc."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop(0)
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                kids = (task / "children").read_text().split()
                todo += [int(k) for k in kids]
        except OSError:
            pass
    return out


@contextmanager
def stack(name: str, *, extra_env: dict[str, str] | None = None) -> Iterator[Stack]:
    """A fresh database, Redis prefix and process set; torn down (and the database dropped) after."""
    run_id = f"{name}-{time.strftime('%H%M%S')}-{secrets.token_hex(3)}"
    workdir = LOG_ROOT / run_id
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    db_name = f"promptq_bench_{name.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db_name}"')
    db_url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{db_name}"
    prefix = f"pqbench-{run_id}"
    api_key = "bench-" + secrets.token_hex(16)
    sim_port = free_port()
    base_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("PROMPTQ_", "ANTHROPIC_", "OPENAI_"))}
    env = {
        **base_env,
        "PROMPTQ_ENV": "development",
        "PROMPTQ_DATABASE_URL": db_url,
        "PROMPTQ_REDIS_URL": REDIS_URL,
        "PROMPTQ_REDIS_PREFIX": prefix,
        "PROMPTQ_SIM_URL": f"http://127.0.0.1:{sim_port}",
        "PROMPTQ_API_KEYS": f"bench:{api_key}",
        "PROMPTQ_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
        **(extra_env or {}),
    }
    procs = Processes(log_dir=workdir / "logs", env=env)
    st = Stack(name=name, workdir=workdir, procs=procs, db_url=db_url, redis_url=REDIS_URL,
               prefix=prefix, api_key=api_key, sim_url=f"http://127.0.0.1:{sim_port}")
    log(f"{name}: logs in {workdir / 'logs'}, database {db_name}, redis prefix {prefix}")
    try:
        upgrade(db_url)
        yield st
    finally:
        try:
            procs.stop()
        finally:
            if st.receiver:
                st.receiver.stop()
            if st._db is not None:
                st._db.close()
            _drop(name, db_name, prefix)


def _drop(name: str, db_name: str, prefix: str) -> None:
    """Drop the run's database and delete its Redis keys (unless PROMPTQ_BENCH_KEEP=1)."""
    if KEEP:
        log(f"{name}: kept database {db_name} and redis prefix {prefix} (PROMPTQ_BENCH_KEEP=1)")
        return
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    forget_redis_prefix(REDIS_URL, prefix)


class Sampler:
    """Samples a function every `every_s` seconds on a thread: [(monotonic t, value)]."""

    def __init__(self, fn: Callable[[], Any], every_s: float) -> None:
        self.samples: list[tuple[float, Any]] = []
        self._fn, self._every = fn, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while True:
            try:
                self.samples.append((time.monotonic(), self._fn()))
            except Exception as exc:  # noqa: BLE001 - a missed sample is not fatal
                log(f"sample failed: {exc!r}")
            if self._stop.wait(self._every):
                return

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

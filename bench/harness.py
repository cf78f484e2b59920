"""Starting what a benchmark measures: simulator, promptq (API + workers), the bare-Celery
baseline, a throwaway PostgreSQL database, a webhook receiver; and measuring processes.

Everything runs on Redis DB 12 under a unique key prefix per stack, and on a PostgreSQL
database created for the stack and dropped afterwards. Times crossing processes are
`time.time()` (epoch seconds, one clock: everything runs on this machine).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
import psycopg
import redis
import requests

from bench.threads import Sched, sched_by_thread, spent
from promptq.launch import Processes, forget_redis_prefix, free_port, http_ok, throwaway_postgres, wait_for
from promptq.receiver import WebhookReceiver  # noqa: F401  (the benchmarks' webhook endpoint)
from promptq.samples import job_posting
from promptq.settings import DEV_API_KEY

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("PROMPTQ_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
PG_ADMIN_URL = os.environ.get("PROMPTQ_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
LOG_ROOT = Path(os.environ.get("PROMPTQ_BENCH_LOGS", "/tmp/promptq-bench")) / time.strftime("%Y%m%d-%H%M%S")
TASK = "job_posting_extraction"
TERMINAL = ("succeeded", "failed", "needs_review", "cancelled")
# Variables that would point promptq somewhere else than this benchmark's processes.
_SCRUBBED = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_BASE_URL", "OPENAI_BASE_URL",
             "PROMPTQ_API_KEYS", "PROMPTQ_ENV", "PROMPTQ_RATE_LIMITS")


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def document(i: int, tag: str, size: int | None = None) -> tuple[str, str]:
    """(doc id, text): a sample job posting carrying `doc-id: <id>` (the simulator's log
    key), padded with filler sentences to `size` characters if given."""
    doc_id = f"{tag}-{i}"
    text = f"doc-id: {doc_id}\n{job_posting(i)}"
    filler = " The team ships weekly, reviews every change and values clear writing."
    while size is not None and len(text) < size:
        text += filler
    return doc_id, (text[:size] if size else text)


def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), nearest-rank on the sorted values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def epoch(value: datetime) -> float:
    return value.timestamp()


# -- processes ----------------------------------------------------------------

def base_env(prefix: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    env.update({
        "PROMPTQ_REDIS_URL": REDIS_URL,
        "PROMPTQ_REDIS_PREFIX": prefix,
        "PROMPTQ_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
        "PROMPTQ_SIM_REQUEST_LOG": "1",
        "PYTHONPATH": str(ROOT),  # bench.baseline_app and bench.discard_app
    })
    return env


def tree(pids: Sequence[int]) -> list[psutil.Process]:
    procs: list[psutil.Process] = []
    for pid in pids:
        try:
            p = psutil.Process(pid)
            procs += [p, *p.children(recursive=True)]
        except psutil.NoSuchProcess:
            pass
    return procs


@dataclass(frozen=True)
class Spent:
    """What process trees used between two readings: CPU seconds (user + system), of
    them system seconds (blocking I/O, thread hand-offs), and context switches."""

    cpu_s: float
    system_s: float
    switches: int


@dataclass(frozen=True)
class Usage:
    """What process trees have used so far: CPU seconds, of them system seconds, and
    each thread's context switches (psutil's `num_ctx_switches` counts a process's main
    thread only). `later - earlier` is what was spent between the two."""

    cpu_s: float = 0.0
    system_s: float = 0.0
    threads: Mapping[tuple[int, int], Sched] = field(default_factory=dict)  # (pid, tid) → use

    def __sub__(self, earlier: Usage) -> Spent:
        switches = sum(s.switches for s in spent(earlier.threads, self.threads).values())
        return Spent(self.cpu_s - earlier.cpu_s, self.system_s - earlier.system_s, switches)


def usage(pids: Sequence[int]) -> Usage:
    """The Usage of the processes and their descendants."""
    cpu = system = 0.0
    alive = []
    for p in tree(pids):
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        cpu += t.user + t.system
        system += t.system
        alive.append(p.pid)
    return Usage(cpu, system, {(pid, tid): used for pid in alive for tid, used in sched_by_thread(pid).items()})


def service_pids() -> list[int]:
    """redis-server and the PostgreSQL postmaster (its backends are its children): shared
    by everything on this machine, so their CPU is only meaningful on a quiet machine."""
    found = []
    for p in psutil.process_iter(["name", "ppid"]):
        name = p.info["name"] or ""
        if name.startswith("redis-server") or (name in ("postgres", "postmaster") and p.info["ppid"] == 1):
            found.append(p.pid)
    return found


def rss_bytes(pids: Sequence[int]) -> int:
    total = 0
    for p in tree(pids):
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


class PeakRss:
    """Samples the summed RSS of process trees every `interval_s`; `.peak` in bytes."""

    def __init__(self, pids: Sequence[int], interval_s: float = 0.1) -> None:
        self.pids, self.interval_s, self.peak = list(pids), interval_s, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(self.pids))
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes(self.pids))


class MachineBusy:
    """Share (0..1) of all cores' time not idle between enter and exit (the whole machine)."""

    def __enter__(self) -> MachineBusy:
        self._t0 = psutil.cpu_times()
        return self

    def __exit__(self, *exc: object) -> None:
        t1 = psutil.cpu_times()
        total = sum(t1) - sum(self._t0)
        idle = (t1.idle + getattr(t1, "iowait", 0)) - (self._t0.idle + getattr(self._t0, "iowait", 0))
        self.busy = 1 - idle / total if total > 0 else 0.0


def wait_until(check: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.05) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not done after {timeout_s:.0f} s")
        time.sleep(interval_s)


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database at the migrations' head, dropped afterwards; yields a
    plain postgresql:// URL."""
    from promptq.store.migrate import upgrade

    with throwaway_postgres(PG_ADMIN_URL, "promptq_bench") as url:
        upgrade(url)
        yield url


def clean_redis(prefix: str) -> None:
    forget_redis_prefix(REDIS_URL, prefix)


# -- the simulator -----------------------------------------------------------

class Sim:
    """promptq's provider simulator as a child process, with its control plane."""

    def __init__(self, name: str = "sim") -> None:
        self.procs = Processes(LOG_ROOT / name, env=base_env("pqbench-sim"))
        self.url = self.procs.sim(free_port())
        self.http = requests.Session()

    def reset(self, **config: Any) -> None:
        """Back to the start config (request log on, empty), then `config` on top."""
        self.http.post(self.url + "/_sim/reset", timeout=10).raise_for_status()
        if config:
            self.http.post(self.url + "/_sim/config", json=config, timeout=10).raise_for_status()

    def requests(self) -> dict[str, Any]:
        """The request log: {"in_flight", "max_in_flight", "requests": [...]}."""
        return self.http.get(self.url + "/_sim/requests", timeout=30).json()

    def by_doc(self) -> dict[str, dict[str, Any]]:
        return {e["doc_id"]: e for e in self.requests()["requests"] if e["doc_id"]}

    def stats(self) -> dict[str, Any]:
        return self.http.get(self.url + "/_sim/stats", timeout=10).json()

    def pids(self) -> list[int]:
        return [p.pid for _, p in self.procs.children]

    def stop(self) -> None:
        self.procs.stop()


def _start_workers(procs: Processes, n: int, start: Callable[[str], subprocess.Popen]) -> list[int]:
    """Start `n` Celery workers named worker0…, all at once; wait until each logged "ready."."""
    started = [(f"worker{i}", start(f"worker{i}")) for i in range(n)]
    for name, proc in started:
        logfile = procs.log_dir / f"{name}.log"
        wait_for(lambda: b"ready." in logfile.read_bytes(), 90, f"{procs.log_dir.name} {name}", proc)
    return [proc.pid for _, proc in started]


# -- promptq -------------------------------------------------------------------

class Promptq:
    """promptq on PostgreSQL: `promptq api` and `workers` × `promptq worker -c concurrency`."""

    def __init__(self, sim_url: str | None, *, workers: int = 2, concurrency: int = 200,
                 name: str = "promptq", extra_env: dict[str, str] | None = None) -> None:
        self.prefix = f"pqbench-{uuid.uuid4().hex[:8]}"
        self._db = postgres_database()
        self.db_url = self._db.__enter__()
        env = base_env(self.prefix) | (extra_env or {}) | {"PROMPTQ_DATABASE_URL": self.db_url}
        if sim_url:
            env["PROMPTQ_SIM_URL"] = sim_url
        self.procs = Processes(LOG_ROOT / name, env=env)
        try:
            port = free_port()
            api = self.procs.promptq("api", "api", "--port", str(port))  # starts while the workers do
            self.api_url, self.api_pid = f"http://127.0.0.1:{port}", api.pid
            self.worker_pids = _start_workers(self.procs, workers, lambda name: self.procs.promptq(
                name, "worker", "-c", str(concurrency), "--hostname", f"{name}@%h"))
            wait_for(http_ok(self.api_url + "/healthz"), 60, "the API", api)
        except BaseException:
            self.stop()
            raise
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {DEV_API_KEY}"
        self.pg = psycopg.connect(self.db_url, autocommit=True)
        self.max_connections = 0

    def pids(self) -> list[int]:
        return [self.api_pid, *self.worker_pids]

    def submit_batch(self, docs: Sequence[tuple[str, str]], webhook_url: str | None = None) -> str:
        body = {"task": TASK, "priority": "batch", "webhook_url": webhook_url,
                "documents": [{"custom_id": d, "text": t} for d, t in docs]}
        r = self.http.post(self.api_url + "/v1/batches", json=body, timeout=300)
        if r.status_code != 202:
            raise RuntimeError(f"batch submit answered {r.status_code}: {r.text[:300]}")
        return r.json()["id"]

    def wait_batch(self, batch_id: str, n: int, timeout_s: float) -> list[int]:
        """Until `n` jobs of the batch are terminal; returns how many were running at each
        sample (every 0.2 s) and notes the most connections to the DB seen."""
        running: list[int] = []

        def done() -> bool:
            self.max_connections = max(self.max_connections, self.pg.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()").fetchone()[0])
            finished, now_running = self.pg.execute(
                "SELECT count(*) FILTER (WHERE lower(status::text) = ANY(%s)), "
                "count(*) FILTER (WHERE lower(status::text) = 'running') FROM jobs WHERE batch_id = %s",
                (list(TERMINAL), batch_id)).fetchone()
            running.append(now_running)
            return finished >= n

        wait_until(done, timeout_s, f"batch {batch_id}", 0.2)
        return running

    def jobs(self, batch_id: str) -> list[tuple[str, str, datetime, datetime]]:
        """(custom_id, status, started_at, finished_at) of a batch's jobs."""
        return self.pg.execute("SELECT custom_id, lower(status::text), started_at, finished_at FROM jobs "
                               "WHERE batch_id = %s", (batch_id,)).fetchall()

    def webhook_secret(self) -> str:
        return self.http.get(self.api_url + "/v1/webhooks/secret", timeout=10).json()["secret"]

    def stop(self) -> None:
        try:
            if getattr(self, "pg", None) is not None:
                self.pg.close()
            self.procs.stop()
        finally:
            self._db.__exit__(None, None, None)
            clean_redis(self.prefix)


# -- the bare-Celery baseline ---------------------------------------------------

class Baseline:
    """`workers` × `celery -A bench.baseline_app worker -P threads -c concurrency`."""

    def __init__(self, sim_url: str, *, workers: int = 2, concurrency: int = 200,
                 name: str = "baseline") -> None:
        self.prefix = f"pqbench-base-{uuid.uuid4().hex[:8]}"
        env = base_env(self.prefix) | {"BENCH_SIM_URL": sim_url, "BENCH_REDIS_URL": REDIS_URL,
                                       "BENCH_PREFIX": self.prefix}
        self.procs = Processes(LOG_ROOT / name, env=env)
        self.worker_pids: list[int] = []
        try:
            self.worker_pids = _start_workers(self.procs, workers, lambda name: self.procs.start(name, [
                sys.executable, "-m", "celery", "-A", "bench.baseline_app", "worker", "--pool=threads",
                f"--concurrency={concurrency}", "--loglevel=INFO", "--without-gossip", "--without-mingle",
                f"--hostname={self.prefix}-{name}@%h"]))
        except BaseException:
            self.stop()
            raise
        from bench.baseline_app import producer

        self.app = producer(REDIS_URL, self.prefix)
        self.redis = redis.Redis.from_url(REDIS_URL)

    def pids(self) -> list[int]:
        return list(self.worker_pids)

    def clear(self) -> None:
        self.redis.delete(*(f"{self.prefix}:{k}" for k in ("count", "last", "started", "done")))

    def publish(self, docs: Sequence[tuple[str, str]]) -> None:
        from bench.baseline_app import TASK_NAME

        with self.app.producer_or_acquire() as producer:
            for doc_id, text in docs:
                self.app.send_task(TASK_NAME, args=[doc_id, text], producer=producer)

    def count(self) -> int:
        return int(self.redis.get(f"{self.prefix}:count") or 0)

    def last_done(self) -> float:
        return float(self.redis.get(f"{self.prefix}:last") or 0)

    def times(self) -> dict[str, tuple[float, float]]:
        """doc id → (task started, task done), epoch seconds."""
        started = self.redis.hgetall(f"{self.prefix}:started")
        done = self.redis.hgetall(f"{self.prefix}:done")
        return {k.decode(): (float(v), float(done[k])) for k, v in started.items() if k in done}

    def stop(self) -> None:
        try:
            self.procs.stop()
        finally:
            clean_redis(self.prefix)


def dump(obj: Any, name: str) -> None:
    """Raw per-run data next to the process logs, for a closer look."""
    LOG_ROOT.mkdir(parents=True, exist_ok=True)
    (LOG_ROOT / name).write_text(json.dumps(obj, indent=1, default=str))

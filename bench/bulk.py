"""Bulk submit: one `POST /v1/batches` of 10,000 documents of 500 characters, to the 202.

promptq runs its API alone (no workers) on PostgreSQL. The same request body (bytes,
built once) goes to two baselines:
- a FastAPI endpoint that parses it with promptq's own `BatchCreate` schema and discards
  it (`bench/discard_app.py`): the HTTP + JSON + validation floor;
- the INSERT alone: promptq's own `insert_jobs` (one multi-row INSERT, one commit) of the
  same 10,000 rows, from this process: the database floor.
Seconds (wall clock, client side) and documents/s; also when the last of the 10,000
broker messages was published (the API publishes after answering), against a plain loop
of Celery `send_task` calls on one producer connection publishing 10,000 messages.
"""

from __future__ import annotations

import json
import sys
import time

import redis
import requests

from bench import harness as h
from bench import pyspy
from bench.report import Row
from promptq.holds import hold_queue

TARGET_S = 3.0
DOC_CHARS = 500


def _body(n: int, tag: str) -> bytes:
    docs = [{"custom_id": d, "text": t} for d, t in (h.document(i, tag, DOC_CHARS) for i in range(n))]
    return json.dumps({"task": h.TASK, "priority": "batch", "documents": docs}).encode()


def _post(url: str, body: bytes, headers: dict[str, str]) -> float:
    t0 = time.perf_counter()
    r = requests.post(url, data=body, headers={"content-type": "application/json", **headers}, timeout=120)
    elapsed = time.perf_counter() - t0
    if r.status_code != 202:
        raise RuntimeError(f"{url} answered {r.status_code}: {r.text[:300]}")
    return elapsed


def _insert_alone(db_url: str, n: int, tag: str) -> float:
    from promptq.api.submission import insert_jobs, job_row
    from promptq.prompts.registry import get_task
    from promptq.settings import Settings
    from promptq.store.engine import engine_for
    from promptq.store.status import Priority
    from sqlmodel import Session

    engine = engine_for(Settings(database_url=db_url).database_url)
    task = get_task(h.TASK)
    docs = [h.document(i, tag, DOC_CHARS) for i in range(n)]
    t0 = time.perf_counter()
    rows = [job_row(tenant="dev", task=task, text=t, priority=Priority.BATCH, webhook_url=None,
                    metadata=None, custom_id=d) for d, t in docs]
    with Session(engine) as s:
        insert_jobs(s, rows)
        s.commit()
    return time.perf_counter() - t0


def _send_task_loop(n: int, tag: str) -> float:
    """Seconds for bare Celery to publish `n` messages (send_task on one connection), to a
    queue nobody consumes, removed afterwards."""
    from bench.baseline_app import TASK_NAME, producer

    prefix = f"pqbench-pub-{tag}"
    app = producer(h.REDIS_URL, prefix)
    docs = [h.document(i, tag) for i in range(n)]
    try:
        t0 = time.perf_counter()
        with app.producer_or_acquire() as prod:
            for doc_id, _ in docs:
                app.send_task(TASK_NAME, args=[doc_id], queue="batch", producer=prod)
        return time.perf_counter() - t0
    finally:
        h.clean_redis(prefix)


def _queued(client: redis.Redis, prefix: str) -> int:
    """Messages published: in the batch queue, or in the tenant's list (promptq/holds.py)."""
    return sum(int(client.llen(f"{prefix}:celery:{queue}")) for queue in ("batch", hold_queue("dev")))


def run(quick: bool) -> list[Row]:
    runs, n = (1, 10_000) if quick else (3, 10_000)
    pq = None
    procs = h.Processes(h.LOG_ROOT / "bulk-discard", env=h.base_env("pqbench-discard"))
    client = redis.Redis.from_url(h.REDIS_URL)
    promptq_s, discard_s, insert_s, published_s, send_s = [], [], [], [], []
    try:
        pq = h.Promptq(None, workers=0, name="bulk-promptq")
        port = h.free_port()
        discard = procs.start("discard", [sys.executable, "-m", "uvicorn", "bench.discard_app:app",
                                          "--port", str(port), "--log-level", "warning"])
        discard_url = f"http://127.0.0.1:{port}/v1/batches"
        h.wait_for(h.http_ok(f"http://127.0.0.1:{port}/docs"), 60, "the discard endpoint", discard)
        auth = {"Authorization": pq.http.headers["Authorization"]}
        _post(discard_url, _body(100, "warm"), {})
        _post(pq.api_url + "/v1/batches", _body(100, "warm"), auth)
        for r in range(runs):
            body = _body(n, f"bulk{r}")
            before = _queued(client, pq.prefix)
            discard_s.append(_post(discard_url, body, {}))
            t0 = time.time()
            promptq_s.append(_post(pq.api_url + "/v1/batches", body, auth))
            h.wait_until(lambda: _queued(client, pq.prefix) >= before + n, 120, "publishing the batch", 0.02)
            published_s.append(time.time() - t0)
            insert_s.append(_insert_alone(pq.db_url, n, f"ins{r}"))
            send_s.append(_send_task_loop(n, f"{r}-{pq.prefix}"))
            h.log(f"bulk run {r + 1}/{runs}: promptq {promptq_s[-1]:.2f} s (published after "
                  f"{published_s[-1]:.2f} s), discard {discard_s[-1]:.2f} s, INSERT alone {insert_s[-1]:.2f} s, "
                  f"send_task loop {send_s[-1]:.2f} s")
        note = ""
        if h.median(promptq_s) > TARGET_S:
            note = _profile(pq, n)
        h.dump({"promptq": promptq_s, "discard": discard_s, "insert": insert_s, "published": published_s,
                "send_task": send_s}, "bulk.json")
    finally:
        procs.stop()
        if pq is not None:
            pq.stop()
    where = f"bulk submit, {n:,} docs × {DOC_CHARS} chars"
    p, d, i = h.median(promptq_s), h.median(discard_s), h.median(insert_s)
    met = p <= TARGET_S
    return [
        Row(f"{where} (baseline: parse-and-discard endpoint)", "seconds to 202", p, "s", d,
            f"≤ {TARGET_S:g} s", met, note, runs),
        Row(f"{where} (baseline: parse-and-discard endpoint)", "documents/s", n / p, "docs/s", n / d,
            runs=runs),
        Row(f"{where} (baseline: the INSERT alone)", "seconds to 202", p, "s", i, runs=runs,
            note="baseline: promptq's insert_jobs of the same rows, one transaction, no HTTP"),
        Row(f"{where} (baseline: a send_task loop)", "seconds until all published to the broker",
            h.median(published_s), "s", h.median(send_s), runs=runs,
            note="the API publishes after answering 202 (a lost publish is redone by the relay); "
                 "baseline: bare Celery send_task × 10,000 on one connection"),
    ]


def _profile(pq: h.Promptq, n: int) -> str:
    """One more submit under py-spy: where the API spends its time."""
    if pyspy.binary() is None:
        return pyspy.describe({}, "")
    body = _body(n, "prof")
    with pyspy.Recording([pq.api_pid], h.LOG_ROOT / "profiles", "bulk") as rec:
        _post(pq.api_url + "/v1/batches", body, {"Authorization": pq.http.headers["Authorization"]})
    return pyspy.describe(pyspy.summarise(rec.stacks), "API, one submit")

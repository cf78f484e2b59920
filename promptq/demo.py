"""`promptq demo`: the whole system on one machine, end to end, in about a minute.

Simulator (when no provider key is set) → API → Redis → Celery worker → store →
polling and signed webhooks, with a little fault injection so retries show.
"""

from __future__ import annotations

import json
import secrets
import shutil
import time
from collections import Counter
from pathlib import Path

import requests
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from promptq.launch import Processes, forget_redis_prefix, free_port, redis_reachable
from promptq.receiver import WebhookReceiver
from promptq.samples import GENERATORS
from promptq.settings import Settings
from promptq.store.migrate import upgrade

console = Console(width=max(100, Console().width))
TERMINAL = {"succeeded", "failed", "needs_review", "cancelled"}


def run_demo(documents: int = 24, keep_running: bool = False) -> int:
    settings = Settings()
    workdir = Path.cwd() / ".demo"
    shutil.rmtree(workdir, ignore_errors=True)
    procs = Processes(log_dir=workdir / "logs")
    api_key = "demo-" + secrets.token_hex(16)
    prefix = f"promptq-demo-{secrets.token_hex(3)}"
    redis_url = settings.redis_url
    try:
        if not redis_reachable(redis_url):
            console.print(f"[yellow]No Redis at {redis_url}: starting a private redis-server.[/yellow]")
            redis_url = procs.redis()
        env = {
            "PROMPTQ_DATABASE_URL": f"sqlite:///{workdir / 'promptq.db'}",
            "PROMPTQ_REDIS_URL": redis_url,
            "PROMPTQ_REDIS_PREFIX": prefix,
            "PROMPTQ_API_KEYS": f"demo:{api_key}",
            "PROMPTQ_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
            "PROMPTQ_ENV": "development",
        }
        workdir.mkdir(parents=True, exist_ok=True)
        upgrade(env["PROMPTQ_DATABASE_URL"])  # a new SQLite file: its tables, before anyone starts
        if settings.uses_simulator:
            sim_port = free_port()
            env["PROMPTQ_SIM_URL"] = f"http://127.0.0.1:{sim_port}"
            procs.env.update(env)
            console.rule("[bold yellow]No ANTHROPIC_API_KEY or OPENAI_API_KEY: using promptq's "
                         "provider SIMULATOR")
            console.print("Simulated latency 0.3 s + 300 tok/s; 8% 529 overloaded, 5% 429 with "
                          "retry-after, 4% malformed output, one document that is refused.")
            procs.sim(sim_port, "--ttft", "0.3", "--tps", "300",
                      "--faults", "overloaded=0.08,rate_limit=0.05,malformed_output=0.04")
        else:
            procs.env.update(env)
            console.rule("[bold green]Provider keys found: calling the real providers")
        api_url = procs.api(free_port())
        procs.worker("worker", concurrency=32)
        console.print(f"API {api_url}  ·  worker: 32 threads  ·  Redis {redis_url}  ·  "
                      f"SQLite {workdir / 'promptq.db'}  ·  logs {procs.log_dir}")
        return _drive(api_url, api_key, documents, settings.uses_simulator)
    finally:
        if keep_running:
            console.print("Services left running (--keep-running); stop them with Ctrl-C.")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        procs.stop()
        # each run has a prefix of its own: its keys would stay in what may be the
        # user's Redis (a private redis-server is gone already)
        forget_redis_prefix(redis_url, prefix)


def _drive(api_url: str, api_key: str, documents: int, simulated: bool) -> int:
    headers = {"Authorization": f"Bearer {api_key}"}
    secret = requests.get(f"{api_url}/v1/webhooks/secret", headers=headers, timeout=10).json()["secret"]
    receiver = WebhookReceiver(secret=secret)

    per_task = max(1, documents // 3)
    batches = {}
    started = time.monotonic()
    for task in ("invoice_extraction", "job_posting_extraction"):
        docs = [{"custom_id": f"{task.split('_')[0]}-{i:03d}", "text": GENERATORS[task](i)}
                for i in range(per_task)]
        if simulated and task == "invoice_extraction":
            docs[-1]["text"] += "\n[[sim:refusal]]"  # shows needs_review
        r = requests.post(f"{api_url}/v1/batches", headers=headers, timeout=60,
                          json={"task": task, "documents": docs, "webhook_url": receiver.url})
        r.raise_for_status()
        batches[task] = r.json()["id"]
    singles = []
    for i in range(documents - 2 * per_task):
        r = requests.post(f"{api_url}/v1/jobs", headers={**headers, "Idempotency-Key": f"demo-{i}"},
                          timeout=30, json={"task": "document_enrichment",
                                            "input": {"text": GENERATORS["document_enrichment"](i)},
                                            "webhook_url": receiver.url})
        r.raise_for_status()
        singles.append(r.json()["id"])
    console.print(f"Submitted {2 * per_task} documents in 2 batches and {len(singles)} single jobs "
                  f"in {time.monotonic() - started:.2f} s.")

    jobs = _follow(api_url, headers, batches, singles)
    elapsed = time.monotonic() - started
    time.sleep(1.0)  # the last webhooks are on their way
    return _report(jobs, receiver, elapsed, expected_hooks=len(jobs) + len(batches))


def _follow(api_url: str, headers: dict, batches: dict[str, str], singles: list[str]) -> list[dict]:
    with Progress(TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as progress:
        bars = {task: progress.add_task(task, total=1) for task in batches}
        single_bar = progress.add_task("document_enrichment", total=len(singles))
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            done_all = True
            for task, batch_id in batches.items():
                b = requests.get(f"{api_url}/v1/batches/{batch_id}", headers=headers, timeout=10).json()
                c = b["counts"]
                finished = c["succeeded"] + c["failed"] + c["needs_review"] + c["cancelled"]
                progress.update(bars[task], total=c["total"], completed=finished)
                done_all &= b["status"] != "in_progress"
            single_jobs = [requests.get(f"{api_url}/v1/jobs/{j}", headers=headers, timeout=10).json()
                           for j in singles]
            progress.update(single_bar, completed=sum(j["status"] in TERMINAL for j in single_jobs))
            done_all &= all(j["status"] in TERMINAL for j in single_jobs)
            if done_all:
                break
            time.sleep(0.5)
    jobs: list[dict] = []
    for batch_id in batches.values():
        after = None
        while True:
            page = requests.get(f"{api_url}/v1/batches/{batch_id}/jobs", headers=headers, timeout=10,
                                params={"limit": 500, **({"after": after} if after else {})}).json()
            jobs += page["data"]
            if not page["has_more"]:
                break
            after = page["next_after"]
    return jobs + single_jobs


def _report(jobs: list[dict], receiver: WebhookReceiver, elapsed: float, expected_hooks: int) -> int:
    table = Table(title="Jobs (a sample)")
    for col in ("document", "status", "model", "tries", "tokens in/out", "USD"):
        table.add_column(col, no_wrap=True)
    sample = [j for j in jobs if j["attempts"] > 1 or j["status"] != "succeeded"][:6]
    sample += [j for j in jobs if j not in sample][: 12 - len(sample)]
    for job in sample:
        u = job["usage"]
        table.add_row(job["custom_id"] or job["id"][:20], job["status"], job["model"] or "-",
                      str(job["attempts"]), f"{u['input_tokens']}/{u['output_tokens']}",
                      "unknown" if u["cost_usd"] is None else f"{u['cost_usd']:.5f}")
    console.print(table)
    example = next((j for j in jobs if j["status"] == "succeeded" and j["task"] == "invoice_extraction"), None)
    if example:
        console.print("Example result (invoice_extraction):")
        console.print_json(json.dumps(example["result"]))

    spend = Table(title="Spend by task and model")
    for col in ("task", "model", "jobs", "tokens in/out", "USD"):
        spend.add_column(col, no_wrap=True)
    groups: dict[tuple[str, str], list[dict]] = {}
    for job in jobs:
        groups.setdefault((job["task"], job["model"] or "-"), []).append(job)
    for (task, model), group in sorted(groups.items()):
        cost = sum(j["usage"]["cost_usd"] or 0 for j in group)
        tokens_in = sum(j["usage"]["input_tokens"] for j in group)
        tokens_out = sum(j["usage"]["output_tokens"] for j in group)
        spend.add_row(task, model, str(len(group)), f"{tokens_in}/{tokens_out}", f"{cost:.5f}")
    console.print(spend)

    statuses = Counter(j["status"] for j in jobs)
    retried = sum(j["attempts"] > 1 for j in jobs)
    verified = [d.event() for d in receiver.deliveries if d.verified]
    rejected = sum(d.verified is False for d in receiver.deliveries)
    hooks = Counter(e["type"] for e in verified)
    console.print(f"{len(jobs)} jobs in {elapsed:.1f} s: " + ", ".join(f"{n} {s}" for s, n in statuses.items())
                  + f"; {retried} needed more than one attempt.")
    console.print(f"Webhooks: {len(verified)} received with valid signatures "
                  f"({dict(hooks)}), {rejected} rejected.")
    ok = all(j["status"] in TERMINAL for j in jobs) and rejected == 0 and len(verified) >= expected_hooks
    console.rule("[bold green]demo finished" if ok else "[bold red]demo incomplete")
    return 0 if ok else 1

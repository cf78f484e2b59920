"""The `promptq` command: run the services, submit documents, follow jobs."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from pathlib import Path
from typing import Annotated

import requests
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from promptq.config_errors import ConfigError, exit_with, require_worker_providers, settings_or_exit
from promptq.settings import DEV_API_KEY

app = typer.Typer(help="promptq: an asynchronous job queue for production LLM calls.",
                  no_args_is_help=True, add_completion=False)
console = Console(stderr=True)

API_URL_ENV = "PROMPTQ_API_URL"
API_KEY_ENV = "PROMPTQ_API_KEY"
QUEUES = "interactive,batch,webhooks"


# Loggers that write a line per request or per task at INFO: the SDKs' HTTP client
# ("HTTP Request: POST …" for every provider call) and Celery's "received"/"succeeded
# in" lines. The ledger and the store record all of it; at hundreds of jobs/s the lines
# cost CPU. `--loglevel DEBUG` shows them.
CHATTY_LOGGERS = ("httpx2", "httpx", "httpcore2", "celery.app.trace", "celery.worker.strategy",
                  "alembic.runtime.plugins")


def _logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if logging.getLevelName(level.upper()) != logging.DEBUG:
        for name in CHATTY_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)


db = typer.Typer(help="The store's schema: migrations (Alembic).", no_args_is_help=True)
app.add_typer(db, name="db")


def _database_ready_for_start() -> None:
    """Upgrade a new development database; refuse, in one line, one not at head."""
    from promptq.store.migrate import SchemaNotAtHead, prepare_for_start

    # Alembic's "Context impl …" lines at every start; an upgrade made here says so itself
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
    settings = settings_or_exit()
    try:
        prepare_for_start(settings.database_url, settings.env)
    except SchemaNotAtHead as refused:
        typer.echo(str(refused), err=True)
        raise typer.Exit(2) from None


@db.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="target revision")] = "head") -> None:
    """Bring the database (PROMPTQ_DATABASE_URL) to the schema this version needs; safe to
    run from several processes at once, a database at head is left alone."""
    from promptq.store.migrate import upgrade

    _logging()
    upgrade(settings_or_exit().database_url, revision)


@db.command("current")
def db_current() -> None:
    """Print the database's revision and the one this version needs."""
    from promptq.store.engine import make_engine
    from promptq.store.migrate import current_revision, head_revision

    engine = make_engine(settings_or_exit().database_url, pool_size=1)
    try:
        current, head = current_revision(engine), head_revision()
    finally:
        engine.dispose()
    typer.echo(f"database: {current or 'none'}  ·  this version needs: {head}")
    if current != head:
        raise typer.Exit(1)


@app.command()
def api(host: str = "127.0.0.1", port: int = 8000,
        workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1) -> None:
    """Run the HTTP API (FastAPI under uvicorn)."""
    import uvicorn

    settings_or_exit()  # before uvicorn, whose factory call would print a traceback
    _logging()
    _database_ready_for_start()
    uvicorn.run("promptq.api.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level="info", access_log=False)


@app.command()
def worker(concurrency: Annotated[int | None, typer.Option(
               "--concurrency", "-c", help="calls in flight per process (threads)")] = None,
           queues: Annotated[str, typer.Option("--queues", "-Q")] = QUEUES,
           pool: Annotated[str, typer.Option(help="threads (default) or prefork")] = "threads",
           loglevel: str = "INFO", hostname: str | None = None) -> None:
    """Run a Celery worker: many LLM calls in flight on a thread pool."""
    settings = settings_or_exit()
    try:
        require_worker_providers(settings)
    except ConfigError as exc:
        exit_with(exc)
    from promptq.workers.celery_app import app as celery_app

    _logging(loglevel)
    _database_ready_for_start()
    n = concurrency or settings.worker_concurrency
    argv = ["worker", f"--pool={pool}", f"--concurrency={n}", f"--queues={queues}",
            f"--loglevel={loglevel}", "--without-gossip", "--without-mingle"]
    if hostname:
        argv.append(f"--hostname={hostname}")
    celery_app.worker_main(argv)


@app.command()
def flower(port: int = 5555, address: str = "127.0.0.1") -> None:
    """Run Flower (worker dashboard); FLOWER_BASIC_AUTH=user:password is required."""
    auth = settings_or_exit().flower_basic_auth
    from promptq.workers.celery_app import app as celery_app

    if not auth or ":" not in auth:
        console.print("[red]FLOWER_BASIC_AUTH=user:password must be set: Flower shows task "
                      "arguments and controls workers.[/red]")
        raise typer.Exit(2)
    celery_app.start(["flower", f"--port={port}", f"--address={address}", f"--basic-auth={auth}"])


@app.command()
def sim(host: str = "127.0.0.1", port: int = 8765,
        ttft: Annotated[float | None, typer.Option(help="time to first token, seconds")] = None,
        tps: Annotated[float | None, typer.Option(help="output tokens per second (0: instant)")] = None,
        faults: Annotated[str | None, typer.Option(help="e.g. overloaded=0.2,rate_limit=0.1")] = None,
        rpm: Annotated[int | None, typer.Option(help="requests per minute per model")] = None) -> None:
    """Run the provider simulator (Anthropic and OpenAI wire formats)."""
    from promptq.sim.__main__ import main

    argv = ["--host", host, "--port", str(port)]
    for flag, value in (("--ttft", ttft), ("--tps", tps), ("--faults", faults), ("--rpm", rpm)):
        if value is not None:
            argv += [flag, str(value)]
    main(argv)


def _client() -> tuple[str, dict[str, str]]:
    url = os.environ.get(API_URL_ENV, "http://127.0.0.1:8000").rstrip("/")
    key = os.environ.get(API_KEY_ENV, DEV_API_KEY)
    return url, {"Authorization": f"Bearer {key}"}


def _fail_on_error(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        body = {"error": {"type": "http", "message": response.text[:200]}}
    if response.status_code >= 400:
        err = body.get("error", {})
        console.print(f"[red]{response.status_code} {err.get('type')}: {err.get('message')}[/red]")
        raise typer.Exit(1)
    return body


@app.command()
def submit(files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True)],
           task: Annotated[str, typer.Option("--task", "-t")],
           wait: Annotated[bool, typer.Option(help="wait for every job to finish")] = False,
           webhook_url: str | None = None) -> None:
    """Submit documents (one job for one file, a batch for several); --wait shows progress."""
    url, headers = _client()
    docs = [{"custom_id": f.name, "text": f.read_text(encoding="utf-8")} for f in files]
    if len(docs) == 1:
        body = {"task": task, "input": {"text": docs[0]["text"]}, "webhook_url": webhook_url}
        job = _fail_on_error(requests.post(f"{url}/v1/jobs", json=body, headers=headers, timeout=30))
        typer.echo(job["id"])
        if wait:
            _wait(url, headers, f"/v1/jobs/{job['id']}", total=1)
        return
    body = {"task": task, "documents": docs, "webhook_url": webhook_url}
    batch = _fail_on_error(requests.post(f"{url}/v1/batches", json=body, headers=headers, timeout=120))
    typer.echo(batch["id"])
    if wait:
        _wait(url, headers, f"/v1/batches/{batch['id']}", total=len(docs))


def _done_count(obj: dict) -> int:
    if obj["object"] == "job":
        return int(obj["status"] not in ("queued", "running"))
    c = obj["counts"]
    return c["succeeded"] + c["failed"] + c["needs_review"] + c["cancelled"]


def _wait(url: str, headers: dict[str, str], path: str, total: int) -> None:
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as progress:
        bar = progress.add_task("processing", total=total)
        while True:
            obj = _fail_on_error(requests.get(url + path, headers=headers, timeout=30))
            done = _done_count(obj)
            progress.update(bar, completed=done)
            if done >= total:
                break
            time.sleep(0.5)
    typer.echo(json.dumps(obj, indent=2))


@app.command()
def status(object_id: Annotated[str, typer.Argument(help="a job_… or batch_… id")]) -> None:
    """Print a job or a batch as JSON."""
    url, headers = _client()
    kind = "batches" if object_id.startswith("batch_") else "jobs"
    typer.echo(json.dumps(_fail_on_error(
        requests.get(f"{url}/v1/{kind}/{object_id}", headers=headers, timeout=30)), indent=2))


@app.command()
def demo(documents: Annotated[int, typer.Option(help="sample documents to process")] = 60,
         keep_running: Annotated[bool, typer.Option(help="leave the services up afterwards")] = False) -> None:
    """Start simulator, API and worker, push a batch through them, show results and spend."""
    from promptq.demo import run_demo

    settings_or_exit()
    sys.exit(run_demo(documents=documents, keep_running=keep_running))


keys = typer.Typer(help="API keys: create (printed once), list, revoke.", no_args_is_help=True)
app.add_typer(keys, name="keys")


def _keys_engine():  # type: ignore[no-untyped-def]
    from promptq.store.engine import engine_for

    settings = settings_or_exit()
    _database_ready_for_start()  # the keys table must be there, as for the API
    return engine_for(settings.database_url)


@keys.command("create")
def keys_create(tenant: Annotated[str, typer.Option(help="the tenant the key acts for (created if new)")]) -> None:
    """Create a key for a tenant; the key is printed once and cannot be shown again."""
    from promptq.store.api_keys import create_key

    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", tenant):
        console.print("[red]--tenant: letters, digits, '-' and '_', at most 64 characters[/red]")
        raise typer.Exit(2)
    key_id, key = create_key(_keys_engine(), tenant)
    typer.echo(f"created {key_id} for tenant {tenant!r}; the key is shown only this once:", err=True)
    typer.echo(key)


@keys.command("list")
def keys_list(tenant: Annotated[str | None, typer.Option(help="only this tenant's keys")] = None) -> None:
    """List keys: id, tenant, source, created, last used, revoked (never the key)."""
    from promptq.store.api_keys import list_keys

    def when(value: object) -> str:
        return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else "-"  # type: ignore[attr-defined]

    found = list_keys(_keys_engine(), tenant)
    typer.echo("id\ttenant\tsource\tcreated\tlast_used\trevoked")
    for k in found:
        typer.echo("\t".join((k.id or "-", k.tenant, k.source, when(k.created_at), when(k.last_used_at),
                              when(k.revoked_at))))


@keys.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="a key_… id from `promptq keys list`")]) -> None:
    """Revoke a key: running API processes refuse it within PROMPTQ_API_KEY_CACHE_S seconds."""
    from promptq.store.api_keys import revoke_key

    revoked = revoke_key(_keys_engine(), key_id)
    if revoked is None:
        console.print(f"[red]no key {key_id!r}[/red]")
        raise typer.Exit(1)
    typer.echo(f"revoked {key_id}" if revoked else f"{key_id} was already revoked")


if __name__ == "__main__":
    app()

"""A bad configuration at start: one line naming the variable, exit status 2, no
traceback, no secret; and production never answers from the simulator."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests

from promptq.launch import forget_redis_prefix
from support import REDIS_URL, WorkerProcess, fresh_database, served_api, wait_until

SECRETS = {"ANTHROPIC_API_KEY": "sk-ant-supersecret-value-1", "OPENAI_API_KEY": "sk-openai-supersecret-value-2",
           "PROMPTQ_METRICS_TOKEN": "metrics-supersecret-value-3", "FLOWER_BASIC_AUTH": "admin:flower-supersecret-4"}
KEYS = "acme:acme-production-key-0123456789"
PROMPTQ = [sys.executable, "-m", "promptq.cli"]
CELERY = [sys.executable, "-m", "celery", "-A", "promptq.workers.celery_app"]
COMMANDS = {
    "promptq api": [*PROMPTQ, "api", "--port", "9"],
    "promptq worker": [*PROMPTQ, "worker", "-c", "2"],
    "promptq flower": [*PROMPTQ, "flower", "--port", "9"],
    "promptq keys list": [*PROMPTQ, "keys", "list"],
    "celery worker": [*CELERY, "worker", "--pool=threads", "-c", "2"],
}


def _start(command: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, "PROMPTQ_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
                               **SECRETS, **env})


def _assert_one_line_refusal(done: subprocess.CompletedProcess, *names: str) -> str:
    assert done.returncode == 2, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    output = done.stdout + done.stderr
    assert "Traceback" not in output and "ValidationError" not in output
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("promptq: configuration error: "), done.stderr
    for name in names:
        assert name in lines[0]
    for secret in [*SECRETS.values(), "hunter2", "short-secret"]:
        assert secret not in output
    return lines[0]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("env, names", [
    ({"PROMPTQ_ENV": "prod"}, ["PROMPTQ_ENV", "'development' or 'production'", "'prod'"]),
    ({"PROMPTQ_API_KEYS": "acme:short-secret"}, ["PROMPTQ_API_KEYS"]),
    ({"PROMPTQ_DATABASE_URL": "postgresql://u:hunter2@h/db", "PROMPTQ_WORKER_CONCURRENCY": "many"},
     ["PROMPTQ_WORKER_CONCURRENCY"]),
    ({"PROMPTQ_ENV": "production", "PROMPTQ_API_KEYS": ""}, ["PROMPTQ_API_KEYS", "production"]),
])
def test_a_bad_setting_is_one_line_and_exit_2(tmp_path, command, env, names):
    _assert_one_line_refusal(_start(COMMANDS[command], tmp_path, **env), *names)


@pytest.mark.parametrize("command", ["promptq worker", "celery worker"])
@pytest.mark.parametrize("empty", [{}, {"ANTHROPIC_BASE_URL": "", "OPENAI_BASE_URL": ""}])
def test_a_production_worker_without_any_provider_key_refuses_to_start(tmp_path, command, empty):
    done = _start(COMMANDS[command], tmp_path, PROMPTQ_ENV="production", PROMPTQ_API_KEYS=KEYS,
                  PROMPTQ_WEBHOOK_ALLOWED_HOSTS="",
                  ANTHROPIC_API_KEY="", OPENAI_API_KEY="", **empty)  # as docker-compose passes them unset
    _assert_one_line_refusal(done, "ANTHROPIC_API_KEY", "OPENAI_API_KEY", "production")


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_production_fails_a_task_without_a_configured_provider_and_never_uses_the_simulator(
        kind, tmp_path, sim_url):
    """OpenAI configured (at the simulator's address, as a gateway would be), Anthropic not:
    ticket_triage (Anthropic only) fails no_provider_configured; invoice_extraction falls
    back to its OpenAI model."""
    prefix = f"pqtest-prod-{uuid.uuid4().hex[:8]}"
    with fresh_database(kind, tmp_path) as db:
        env = {"PROMPTQ_ENV": "production", "PROMPTQ_API_KEYS": KEYS, "PROMPTQ_DATABASE_URL": db,
               "PROMPTQ_REDIS_PREFIX": prefix, "OPENAI_API_KEY": "sk-gateway", "OPENAI_BASE_URL": f"{sim_url}/v1",
               "ANTHROPIC_API_KEY": "", "ANTHROPIC_BASE_URL": ""}
        worker = WorkerProcess({**os.environ, **env}, tmp_path / "worker.log", concurrency=4, name="prod")
        try:
            with served_api(tmp_path, **env) as url:
                headers = {"Authorization": f"Bearer {KEYS.split(':', 1)[1]}"}

                def submit(task: str) -> str:
                    r = requests.post(f"{url}/v1/jobs", json={"task": task, "input": {"text": "Invoice INV-9: 9 USD"}},
                                      headers=headers, timeout=30)
                    assert r.status_code == 202, r.text
                    return r.json()["id"]

                def finished(job_id: str) -> dict | None:
                    job = requests.get(f"{url}/v1/jobs/{job_id}", headers=headers, timeout=30).json()
                    return job if job["status"] not in ("queued", "running") else None

                unconfigured, configured = submit("ticket_triage"), submit("invoice_extraction")
                job = wait_until(lambda: finished(unconfigured), timeout_s=90, what="ticket_triage to finish")
                assert job["status"] == "failed", job
                assert job["error"]["type"] == "no_provider_configured", job["error"]
                assert job["attempts"] == 0  # no provider call was made, least of all to the simulator
                job = wait_until(lambda: finished(configured), timeout_s=90, what="invoice_extraction to finish")
                assert job["status"] == "succeeded" and job["model"] == "gpt-4o", job
        finally:
            worker.stop()
            forget_redis_prefix(REDIS_URL, prefix)

"""The documented commands, run as a user runs them: `promptq api`, `submit`, `status`, `flower`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import requests

from promptq.launch import Processes, free_port, http_ok, wait_for

pytestmark = pytest.mark.integration


def promptq(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "promptq.cli", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def api_process(stack, tmp_path):
    procs = Processes(log_dir=tmp_path, env=dict(stack.env))
    url = procs.api(free_port())
    yield url, {**stack.env, "PROMPTQ_API_URL": url, "PROMPTQ_API_KEY": stack.api_key()}
    procs.stop()


def test_submit_files_as_a_batch_wait_and_read_status(stack, sim, api_process, tmp_path):
    _, env = api_process
    files = []
    for i in range(3):
        f = tmp_path / f"invoice-{i}.txt"
        f.write_text(f"Initech invoice INV-{i}, 2024-01-0{i + 1}, total {10 * (i + 1)}.00 USD")
        files.append(str(f))
    done = promptq("submit", *files, "--task", "invoice_extraction", "--wait", env=env)
    assert done.returncode == 0, done.stderr
    batch_id = done.stdout.splitlines()[0]
    batch = json.loads(done.stdout[done.stdout.index("{"):])
    assert batch["id"] == batch_id and batch["counts"]["succeeded"] == 3
    status = promptq("status", batch_id, env=env)
    assert status.returncode == 0 and json.loads(status.stdout)["status"] == "completed"


def test_submit_one_file_is_one_job(stack, sim, api_process, tmp_path):
    _, env = api_process
    f = tmp_path / "posting.txt"
    f.write_text("Data Analyst at Hooli, fully remote, 3 years of experience.")
    done = promptq("submit", str(f), "--task", "job_posting_extraction", "--wait", env=env)
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout[done.stdout.index("{"):])
    assert job["object"] == "job" and job["status"] == "succeeded"


def test_submit_reports_api_errors_and_exits_non_zero(stack, api_process, tmp_path):
    _, env = api_process
    f = tmp_path / "x.txt"
    f.write_text("x")
    done = promptq("submit", str(f), "--task", "no_such_task", env=env)
    assert done.returncode == 1 and "unknown_task" in done.stderr


def test_flower_refuses_to_start_without_basic_auth(stack):
    env = {k: v for k, v in stack.env.items() if k != "FLOWER_BASIC_AUTH"}
    done = promptq("flower", env=env, timeout=60)
    assert done.returncode == 2 and "FLOWER_BASIC_AUTH" in done.stderr


FLOWER_AUTH = ("ops", "s3cret-pass")


@pytest.fixture
def flower_url(stack, tmp_path):
    """`promptq flower` running with basic auth FLOWER_AUTH; its base URL."""
    port = free_port()
    procs = Processes(log_dir=tmp_path, env={**stack.env, "FLOWER_BASIC_AUTH": ":".join(FLOWER_AUTH)})
    proc = procs.promptq("flower", "flower", "--port", str(port))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(http_ok(url + "/"), 60, "flower", proc)
        yield url
    finally:
        procs.stop()


def test_flower_asks_for_its_password(flower_url):
    url = flower_url + "/"
    assert requests.get(url, timeout=5).status_code == 401
    assert requests.get(url, auth=("ops", "wrong"), timeout=5).status_code == 401
    assert requests.get(url, auth=FLOWER_AUTH, timeout=5).status_code == 200


def test_flower_lists_the_running_workers_without_task_events(stack, flower_url):
    """Task events are off by default (PROMPTQ_TASK_EVENTS); Flower still sees the
    workers through Celery's remote control (the broadcast queue)."""
    assert stack.env.get("PROMPTQ_TASK_EVENTS", "") in ("", "0", "false")
    names: list[str] = []

    def listed() -> bool:
        r = requests.get(f"{flower_url}/api/workers", params={"refresh": "1"}, auth=FLOWER_AUTH, timeout=30)
        names[:] = list(r.json()) if r.status_code == 200 else []
        return any(name.startswith("main-") for name in names)

    wait_for(listed, 60, "the worker in Flower")
    [main] = [n for n in names if n.startswith("main-")]
    r = requests.get(f"{flower_url}/api/workers", params={"workername": main}, auth=FLOWER_AUTH, timeout=30)
    assert "interactive" in {q["name"] for q in r.json()[main]["active_queues"]}

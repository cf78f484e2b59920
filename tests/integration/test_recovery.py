"""Nothing is lost: a lost broker message, a dead worker. Runs after test_pipeline.py."""

from __future__ import annotations

import time

import pytest
import requests
from sqlmodel import Session

from promptq.api.submission import batch_row, insert_jobs, job_row
from promptq.dispatch import publish_jobs
from promptq.prompts.registry import get_task
from promptq.store.status import JobStatus, Priority
from support import wait_until

pytestmark = pytest.mark.integration
TEXT = "Initech LLC invoice INV-77, 2024-05-01, total 120.00 USD."


def status_of(stack, job_id: str) -> str:
    return stack.api.get(f"/v1/jobs/{job_id}", headers=stack.headers()).json()["status"]


def test_job_whose_message_was_lost_is_published_by_the_relay(stack, sim):
    # A row committed without its broker message (the API died between the two).
    row = job_row(tenant="acme", task=get_task("invoice_extraction"), text=TEXT,
                  priority=Priority.INTERACTIVE, webhook_url=None, metadata=None)
    with Session(stack.engine) as s:
        insert_jobs(s, [row])
        s.commit()
    wait_until(lambda: status_of(stack, row["id"]) == "succeeded", timeout_s=60,
               what="the relay to re-publish the job")


def running_jobs(stack, sim, n: int, tag: str) -> list[str]:
    """`n` jobs with webhooks, each running a 2 s provider call when this returns."""
    requests.post(f"{sim}/_sim/config", json={"ttft_s": 2.0}, timeout=5).raise_for_status()
    ids = [stack.api.post("/v1/jobs", headers=stack.headers(),
                          json={"task": "invoice_extraction", "input": {"text": f"{TEXT} {tag}#{i}"},
                                "webhook_url": stack.receiver.url}).json()["id"] for i in range(n)]
    wait_until(lambda: all(status_of(stack, j) == "running" for j in ids), timeout_s=30,
               what="all jobs to be running")
    return ids


def test_worker_killed_mid_job_loses_nothing_and_each_job_ends_once(stack, sim):
    ids = running_jobs(stack, sim, 6, "")
    for worker in list(stack.workers):
        worker.kill()  # SIGKILL: no cleanup, messages unacknowledged, leases left behind
        stack.workers.remove(worker)
    stack.start_worker("replacement")
    wait_until(lambda: all(status_of(stack, j) == "succeeded" for j in ids), timeout_s=90,
               what="every job to finish on the replacement worker")
    # Exactly one terminal webhook per job, however many times it ran.
    wait_until(lambda: all(stack.receiver.for_object(j) for j in ids), what="the webhooks")
    time.sleep(2)  # room for a duplicate to show up, if there were one
    assert [len(stack.receiver.for_object(j)) for j in ids] == [1] * len(ids)


def test_worker_stopped_with_sigterm_finishes_its_running_jobs_before_it_exits(stack, sim):
    # A warm shutdown (a deploy): running jobs end and are committed by this worker —
    # through its finisher thread — not left to lapse and run again elsewhere.
    ids = running_jobs(stack, sim, 4, "warm ")
    for worker in list(stack.workers):
        worker.stop()  # SIGTERM; waits for the process to exit
        assert worker.proc.returncode == 0, worker.log()[-3000:]
        stack.workers.remove(worker)
    try:
        # no worker is left: whatever is terminal was committed before the exit
        assert [status_of(stack, j) for j in ids] == ["succeeded"] * len(ids)
        wait_until(lambda: all(stack.receiver.for_object(j) for j in ids), what="the webhooks")
    finally:
        stack.start_worker("after-sigterm")


def run_until_failed(stack, row: dict) -> dict:
    """Store the job `row` as the API would, publish it, and return it once it failed."""
    with Session(stack.engine) as s:
        insert_jobs(s, [row])
        s.commit()
    publish_jobs(stack.settings.redis_url, [(row["id"], "interactive")])
    wait_until(lambda: status_of(stack, row["id"]) == "failed", what="the job to fail")
    return stack.api.get(f"/v1/jobs/{row['id']}", headers=stack.headers()).json()


def test_a_job_that_cannot_run_fails_visibly_instead_of_looping(stack, sim):
    # A job whose task left the catalog after it was queued (a deploy removed it).
    row = job_row(tenant="acme", task=get_task("invoice_extraction"), text=TEXT,
                  priority=Priority.INTERACTIVE, webhook_url=stack.receiver.url, metadata=None)
    row["task"] = "retired_task"
    job = run_until_failed(stack, row)
    assert job["error"] == {"type": "internal_error", "message": "UnknownTask while running the job"}
    wait_until(lambda: stack.receiver.for_object(row["id"]), what="the job.failed webhook")


def test_an_internal_error_quoting_the_document_leaves_the_document_out_of_the_log(stack, sim):
    # A defect whose exception message quotes input: here a stored progress whose piece
    # boundary is a piece of the document (int() quotes what it could not parse).
    secret = "Umbrella Corp invoice UMB-991 for Dr. Alexia Ashford"
    row = job_row(tenant="acme", task=get_task("invoice_extraction"), text=f"{secret}. Total 5 USD.",
                  priority=Priority.INTERACTIVE, webhook_url=None, metadata=None)
    row["progress"] = {"spans": [[secret, 5], [5, 10]], "partials": [{}]}
    job = run_until_failed(stack, row)
    assert job["error"] == {"type": "internal_error", "message": "ValueError while running the job"}
    logs = "".join(w.log() for w in stack.workers)
    assert f"job {row['id']} failed on an internal error" in logs
    assert "builtins.ValueError (message withheld" in logs  # where and what, for whoever debugs it
    assert "UMB-991" not in logs and "Ashford" not in logs


def test_batch_whose_last_job_finished_without_completing_it_is_completed_by_the_relay(stack, sim):
    # A worker died between its job's commit and the batch's (or two last jobs raced).
    task = get_task("invoice_extraction")
    batch = batch_row("acme", task, 1, stack.receiver.url, Priority.BATCH)
    row = job_row(tenant="acme", task=task, text=TEXT, priority=Priority.BATCH,
                  webhook_url=None, metadata=None, batch_id=batch.id)
    row["status"] = JobStatus.SUCCEEDED
    with Session(stack.engine, expire_on_commit=False) as s:
        s.add(batch)
        insert_jobs(s, [row])
        s.commit()

    def completed() -> bool:
        b = stack.api.get(f"/v1/batches/{batch.id}", headers=stack.headers()).json()
        return b["status"] == "completed"

    wait_until(completed, timeout_s=30, what="the relay to complete the batch")
    [delivery] = wait_until(lambda: stack.receiver.for_object(batch.id), what="batch.completed")
    assert delivery.event()["type"] == "batch.completed"

"""Issue 24 A, bounded spend per job: however a job fails, it cannot run (and be
billed) again and again, and every call a provider may bill is in the ledger.

Problem 1 of the issue: a job whose webhook body cannot be built (metadata nested 260
levels: pydantic refuses to serialise it) used to fail its finish, roll back the call's
ledger row with it, lapse, be re-queued by the relay and call the provider again, every
30-60 s, forever."""

from __future__ import annotations

import time

import pytest
import requests
from sqlmodel import Session, select

from promptq.dispatch import publish_jobs
from promptq.prompts.registry import get_task
from promptq.store.models import Job, LedgerEntry, utcnow
from promptq.store.status import JobStatus
from promptq.workers.llm import pricing
from promptq.workers.llm.types import Usage
from support import WorkerProcess, queued_jobs, wait_until

pytestmark = pytest.mark.integration
TASK = get_task("job_posting_extraction")


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def provider_requests(sim: str) -> int:
    return requests.get(f"{sim}/_sim/stats", timeout=5).json()["requests"]


def job(stack, job_id: str) -> Job:
    with Session(stack.engine) as s:
        return s.get(Job, job_id)


def ledger(stack, job_id: str) -> list[LedgerEntry]:
    with Session(stack.engine) as s:
        return list(s.exec(select(LedgerEntry).where(LedgerEntry.job_id == job_id).order_by(LedgerEntry.id)))


def submit(stack, **fields) -> str:
    [job_id] = queued_jobs(stack.engine, 1, webhook_url=stack.receiver.url, **fields)
    publish_jobs(stack.settings.redis_url, [(job_id, "batch")])
    return job_id


def test_a_job_whose_finish_cannot_be_stored_fails_after_one_call_and_stays_failed(stack, sim):
    before = provider_requests(sim)
    job_id = submit(stack, metadata_=nested(260))
    wait_until(lambda: job(stack, job_id).status == JobStatus.FAILED, timeout_s=60, what="the job to fail")
    # Past a lease (6 s) and many relay passes (0.5 s): a run that lapsed would be re-queued by now.
    time.sleep(9)
    failed = job(stack, job_id)
    assert (failed.status, failed.error_type, failed.runs) == (JobStatus.FAILED, "internal_error", 1)
    assert provider_requests(sim) - before == 1
    # The call was made and billed: its ledger row survived the finish that rolled back.
    [row] = ledger(stack, job_id)
    assert row.outcome == "ok" and row.input_tokens > 0
    assert (failed.attempts, failed.input_tokens, failed.cost_usd) == (1, row.input_tokens, row.cost_usd)
    # The user is told, by a webhook that leaves out what could not be sent.
    wait_until(lambda: stack.receiver.for_object(job_id), what="the job.failed webhook")
    [hook] = stack.receiver.for_object(job_id)
    assert (hook.event_type, hook.data["metadata"], hook.data["error"]["type"]) == (
        "job.failed", None, "internal_error")


def test_a_job_run_more_than_the_bound_fails_without_a_call(stack, sim):
    before = provider_requests(sim)
    job_id = submit(stack, runs=stack.settings.max_runs)  # this claim is one run too many
    wait_until(lambda: job(stack, job_id).status == JobStatus.FAILED, timeout_s=60, what="the job to fail")
    assert job(stack, job_id).error_type == "too_many_runs"
    assert provider_requests(sim) == before and ledger(stack, job_id) == []
    wait_until(lambda: stack.receiver.for_object(job_id), what="the job.failed webhook")


def test_a_job_whose_attempts_were_spent_by_runs_that_died_makes_no_more_calls(stack, sim):
    # Its calls were reserved (and counted) by runs that never decided what came next.
    before = provider_requests(sim)
    job_id = submit(stack, attempts=stack.settings.max_attempts)
    wait_until(lambda: job(stack, job_id).status == JobStatus.FAILED, timeout_s=60, what="the job to fail")
    assert job(stack, job_id).error_type == "too_many_attempts"
    assert provider_requests(sim) == before and ledger(stack, job_id) == []


def test_a_job_whose_lease_lapsed_too_often_is_failed_by_the_relay_not_requeued(stack, sim):
    before = provider_requests(sim)
    [job_id] = queued_jobs(stack.engine, 1, webhook_url=stack.receiver.url, status=JobStatus.RUNNING,
                           claim_token="a-dead-workers-token", lease_until=utcnow(),
                           lapsed_runs=stack.settings.max_lapsed_runs)
    wait_until(lambda: job(stack, job_id).status == JobStatus.FAILED, timeout_s=30, what="the relay to fail it")
    assert job(stack, job_id).error_type == "too_many_runs"
    wait_until(lambda: [h.event_type for h in stack.receiver.for_object(job_id)] == ["job.failed"],
               what="its webhook, published by the relay")
    assert provider_requests(sim) == before


def test_a_call_cut_by_a_dead_worker_stays_in_the_ledger_as_unknown_with_its_estimate(stack, sim):
    requests.post(f"{sim}/_sim/config", json={"ttft_s": 4.0}, timeout=5).raise_for_status()
    before = provider_requests(sim)
    job_id = submit(stack)
    wait_until(lambda: [r.outcome for r in ledger(stack, job_id)] == ["pending"], timeout_s=30,
               what="the call to be reserved")
    time.sleep(1)  # the request is at the simulator, its answer 3 s away
    for worker in list(stack.workers):
        worker.kill()  # SIGKILL: the call is never settled
        stack.workers.remove(worker)
    requests.post(f"{sim}/_sim/config", json={"ttft_s": 0.0}, timeout=5).raise_for_status()
    # Swept soon after the bound (more than call timeout 5 s + lease 6 s).
    replacement = WorkerProcess({**stack.env, "PROMPTQ_LEDGER_UNSETTLED_S": "12"},
                                stack.tmp / "spend-replacement.log", name="spend-replacement")
    try:
        _check_the_cut_call_is_kept(stack, sim, job_id, before)
    finally:  # the session's stack gets back a worker with its usual settings and name
        replacement.stop()
        stack.start_worker("main")


def _check_the_cut_call_is_kept(stack, sim, job_id: str, before: int) -> None:
    wait_until(lambda: job(stack, job_id).status == JobStatus.SUCCEEDED, timeout_s=90,
               what="the job to finish on the replacement worker")
    wait_until(lambda: [r.outcome for r in ledger(stack, job_id)] == ["unknown", "ok"], timeout_s=60,
               what="the sweep to mark the cut call unknown")
    unknown, ok = ledger(stack, job_id)
    assert unknown.output_tokens == TASK.max_output_tokens and unknown.input_tokens > 0
    assert unknown.cost_usd == pricing.cost_usd(unknown.model, Usage(input_tokens=unknown.input_tokens,
                                                                     output_tokens=unknown.output_tokens))
    # Every request the provider received is a ledger row, and the job's totals are the rows'.
    wait_until(lambda: provider_requests(sim) - before == 2, what="the simulator to count the cut request")
    done = job(stack, job_id)
    assert done.attempts == 2
    assert done.input_tokens == unknown.input_tokens + ok.input_tokens
    assert done.output_tokens == unknown.output_tokens + ok.output_tokens
    assert done.cost_usd == pytest.approx(unknown.cost_usd + ok.cost_usd)

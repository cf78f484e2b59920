"""Run one job. The job id is the Celery task id; the store says what to do with it."""

from __future__ import annotations

from promptq.dispatch import RUN_JOB
from promptq.workers.celery_app import app
from promptq.workers.pipeline import JobRunner
from promptq.workers.runtime import get_runtime


@app.task(name=RUN_JOB, ignore_result=True)
def run_job(job_id: str) -> str:
    outcome = JobRunner(get_runtime()).run(job_id)
    if outcome.status is not None:
        return str(outcome.status)
    return "skipped" if outcome.skipped else f"retry in {outcome.retry_in_s:.3f}s"

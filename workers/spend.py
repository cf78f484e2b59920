"""The relay's part in bounding what a job can cost (run by `relay_once` each tick).

- A running job whose lease lapsed more than PROMPTQ_MAX_LAPSED_RUNS times fails
  (`too_many_runs`) instead of going back to the queue: whatever keeps ending its runs
  without a finish (a defect, an input that kills its worker) would end the next one too.
- A ledger row left `pending` longer than PROMPTQ_LEDGER_UNSETTLED_S (its worker died
  during or after the call) becomes `unknown`, its reserved estimate kept as its cost.
"""

from __future__ import annotations

import logging

from promptq.store import jobs, ledger
from promptq.workers.runtime import Runtime

log = logging.getLogger(__name__)


def relay_pass(rt: Runtime) -> tuple[int, int]:
    """Jobs failed and ledger rows marked unknown. Runs before the relay re-queues
    lapsed jobs and publishes due webhooks (the failed jobs' webhooks among them)."""
    settings = rt.settings
    failed = jobs.fail_lapsed(rt.engine, max_lapsed_runs=settings.max_lapsed_runs)
    for job_id in failed:
        log.error("job %s failed: its lease lapsed more than %d times", job_id, settings.max_lapsed_runs)
    unknown = ledger.sweep_unsettled(rt.engine, settings.ledger_unsettled_s)
    if unknown:
        log.warning("%d ledger rows were never settled (their workers died): marked unknown", unknown)
    return len(failed), unknown

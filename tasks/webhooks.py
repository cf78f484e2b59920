"""Deliver one webhook attempt; the next one rides a countdown or is parked for the relay."""

from __future__ import annotations

from promptq.dispatch import DELIVER_WEBHOOK
from promptq.workers.celery_app import app
from promptq.workers.runtime import get_runtime
from promptq.workers.webhooks.delivery import attempt, schedule_retry


@app.task(name=DELIVER_WEBHOOK, ignore_result=True)
def deliver_webhook(delivery_id: str) -> str:
    rt = get_runtime()
    outcome = attempt(rt.engine, delivery_id, allowed_hosts=rt.settings.webhook_allowed_hosts,
                      timeout_s=rt.settings.webhook_timeout_s, client=rt.webhook_client, delivered_log=rt.delivered_log)
    schedule_retry(rt, delivery_id, outcome)
    return "delivered" if outcome.delivered else f"retry in {outcome.retry_in_s}"

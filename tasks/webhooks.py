"""Hand one webhook attempt to the process's webhook loop and return: no pool thread
waits on a receiver. The loop records it and publishes the next one (a countdown) or
leaves it parked for the relay."""

from __future__ import annotations

from promptq.dispatch import DELIVER_WEBHOOK
from promptq.workers.celery_app import app
from promptq.workers.runtime import get_runtime


@app.task(name=DELIVER_WEBHOOK, ignore_result=True)
def deliver_webhook(delivery_id: str) -> str:
    get_runtime().webhooks.retry(delivery_id)
    return "handed to the webhook loop"

"""Publishing "run job X" and "deliver webhook Y" messages.

A producer-only Celery app configured from the same celeryconfig as the workers,
so the API can enqueue without importing any worker code. The job id is the
Celery task id.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from celery import Celery

RUN_JOB = "promptq.run_job"
DELIVER_WEBHOOK = "promptq.deliver_webhook"
WEBHOOK_QUEUE = "webhooks"
PUBLISH_BATCH = 1000  # messages per pipeline


@lru_cache
def producer_app(broker_url: str) -> Celery:
    import celeryconfig

    app = Celery("promptq-producer")
    app.config_from_object(celeryconfig)
    app.conf.broker_url = broker_url
    return app


def publish_jobs(broker_url: str, jobs: Iterable[tuple[str, str]], countdown: float | None = None) -> int:
    """Publish (job id, priority) pairs on one connection; priority names the queue.

    Messages go out in pipelines of up to PUBLISH_BATCH (kombu's Producer.batch: one
    round trip each, not one per message). A failure leaves the unsent ones to the
    relay, as any failed publish does."""
    app = producer_app(broker_url)
    count = 0
    with app.producer_or_acquire() as producer, producer.batch(max_size=PUBLISH_BATCH):
        for job_id, queue in jobs:
            _send(app, RUN_JOB, job_id, task_id=job_id, queue=queue, countdown=countdown, producer=producer)
            count += 1
    return count


def publish_delivery(broker_url: str, delivery_id: str, countdown: float | None = None) -> None:
    _send(producer_app(broker_url), DELIVER_WEBHOOK, delivery_id, queue=WEBHOOK_QUEUE, countdown=countdown)


def _send(app: Celery, task: str, object_id: str, **options: Any) -> None:
    """One message whose only argument is an id.

    It declares nothing: the message goes to the anonymous exchange, which on Redis is
    a push onto the queue's list whether or not the queue was declared (the workers
    declare theirs), while kombu's check that it was declared copies and binds the
    Queue on every message (~45 % of a publish's CPU). The argument's repr, which
    Flower shows, is written out: Celery's safe repr of it was another ~10 %."""
    app.send_task(task, args=[object_id], argsrepr=repr([object_id]), kwargsrepr="{}", declare=[], **options)

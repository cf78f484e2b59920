"""`celery -A promptq.workers.celery_app worker` finds promptq's tasks and configuration."""

from __future__ import annotations

from promptq.dispatch import DELIVER_WEBHOOK, RUN_JOB
from promptq.settings import get_settings
from promptq.workers.celery_app import app


def test_the_celery_app_registers_promptqs_tasks_with_the_documented_settings():
    app.loader.import_default_modules()
    assert {RUN_JOB, DELIVER_WEBHOOK} <= set(app.tasks)
    conf = app.conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1 and conf.accept_content == ["json"]
    assert conf.worker_send_task_events == get_settings().task_events  # off unless PROMPTQ_TASK_EVENTS
    assert {q.name for q in conf.task_queues} == {"interactive", "batch", "webhooks"}
    # No redelivery by visibility timeout: the relay re-publishes from the store instead.
    assert conf.broker_transport_options["ack_emulation"] is False
    assert "visibility_timeout" not in conf.broker_transport_options

"""Celery configuration for promptq (`celery -A promptq.workers.celery_app worker` reads it too).

Values derive from promptq's typed Settings (PROMPTQ_* environment variables).
"""

from kombu import Queue

from promptq.broker import TRANSPORT
from promptq.settings import get_settings

_settings = get_settings()

broker_url = _settings.redis_url
# kombu's Redis transport, reusing one Redis client per channel (see promptq/broker.py).
broker_transport = TRANSPORT
# Results live in the job store; Celery's result backend would only duplicate them.
task_ignore_result = True
result_backend = None

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]

# A message is acknowledged after the task ran, and handed back if the worker process
# dies, so a killed worker loses no job (the conditional claim makes a second
# delivery of a finished job a no-op).
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1

# Redis re-delivers an unacknowledged message after the visibility timeout. It must
# exceed the longest countdown we publish (max_countdown_s) plus the longest a task
# may run, or a waiting message would run twice; longer waits are parked in the DB.
broker_transport_options = {
    "visibility_timeout": int(_settings.max_countdown_s + 3 * _settings.call_timeout_s + 600),
    "global_keyprefix": f"{_settings.redis_prefix}:celery:",
    "prefetch_headroom": _settings.worker_prefetch_headroom,  # promptq/broker.py
}
broker_connection_retry_on_startup = True

task_queues = (
    # single jobs: read before batch documents, so one waits at most behind the few batch
    # messages a worker already holds (PROMPTQ_WORKER_PREFETCH_HEADROOM), not behind a batch
    Queue("interactive"),
    Queue("batch"),        # batch documents
    Queue("webhooks"),     # deliveries: a slow receiver never delays LLM work
)
task_default_queue = "interactive"
task_routes = {"promptq.deliver_webhook": {"queue": "webhooks"}}

# Flower's task pages need task events; its worker list does not (PROMPTQ_TASK_EVENTS).
worker_send_task_events = _settings.task_events

worker_hijack_root_logger = False
worker_cancel_long_running_tasks_on_connection_loss = False

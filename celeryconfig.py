"""Celery configuration for promptq (`celery -A promptq.workers.celery_app worker` reads it too).

Values derive from promptq's typed Settings (PROMPTQ_* environment variables).
"""

from kombu import Queue

from promptq.broker import TRANSPORT
from promptq.config_errors import settings_or_exit

# The first place `celery -A promptq.workers.celery_app worker` reads settings: an invalid
# environment is one line on stderr and exit status 2, not a traceback.
_settings = settings_or_exit()

broker_url = _settings.redis_url
# kombu's Redis transport, reusing one Redis client per channel (see promptq/broker.py).
broker_transport = TRANSPORT
# Results live in the job store; Celery's result backend would only duplicate them.
task_ignore_result = True
result_backend = None

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]

# A message is acknowledged after the task ran, so a warm shutdown (SIGTERM) hands the
# messages a worker holds but has not run back to the queue.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1

broker_transport_options = {
    # No acknowledgement bookkeeping in Redis: the store keeps jobs and deliveries and the
    # relay re-publishes what a dead worker held (docs/decisions/0003-kombu-ack-emulation-off.md).
    "ack_emulation": False,
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

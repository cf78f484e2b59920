"""The Celery app of the workers: `celery -A promptq.workers.celery_app worker` works.

Task modules live in promptq.tasks and are named here as strings, so this module
imports none of them (dependencies point from tasks/ to workers/, not back).
"""

from __future__ import annotations

from celery import Celery
from celery.signals import (celeryd_init, worker_init, worker_process_init, worker_process_shutdown,
                            worker_ready, worker_shutdown)

import celeryconfig

app = Celery("promptq", include=["promptq.tasks.jobs", "promptq.tasks.webhooks"])
app.config_from_object(celeryconfig)


@celeryd_init.connect
def _refuse_a_worker_without_providers(**_: object) -> None:
    # Fired by `celery worker` (and `promptq worker`) only, not where the API imports this
    # app to publish. Celery logs and swallows a receiver's Exception: exit instead.
    from promptq.config_errors import ConfigError, exit_with, require_worker_providers, settings_or_exit

    try:
        require_worker_providers(settings_or_exit())
    except ConfigError as exc:
        exit_with(exc)


@worker_init.connect
def _tune_process(**_: object) -> None:
    # before the pool's threads start (workers/malloc_arenas.py, workers/interpreter.py);
    # prefork children inherit both
    from promptq.settings import get_settings
    from promptq.workers.interpreter import tune_interpreter
    from promptq.workers.malloc_arenas import limit_malloc_arenas

    settings = get_settings()
    limit_malloc_arenas(settings.worker_malloc_arenas)
    tune_interpreter(settings.worker_gc_threshold, settings.worker_switch_interval_s)


@worker_init.connect
def _refuse_a_database_not_at_head(**_: object) -> None:
    # `promptq worker` checked already; this covers `celery -A promptq.workers.celery_app worker`
    import sys

    from promptq.settings import get_settings
    from promptq.store.engine import engine_for
    from promptq.store.migrate import SchemaNotAtHead, require_head

    try:
        require_head(engine_for(get_settings().database_url))
    except SchemaNotAtHead as refused:
        print(refused, file=sys.stderr)
        raise SystemExit(2) from None


@worker_ready.connect
def _start_relay(sender, **_: object) -> None:  # type: ignore[no-untyped-def]
    from promptq.workers.refill import start_refill_thread
    from promptq.workers.relay import start_relay_thread
    from promptq.workers.runtime import get_runtime

    start_relay_thread(get_runtime())
    start_refill_thread(get_runtime())


@worker_process_init.connect
def _fresh_runtime_after_fork(**_: object) -> None:
    # A prefork child must not share the parent's DB or Redis sockets.
    from promptq.workers import runtime

    runtime.reset_after_fork()


@worker_shutdown.connect
def _stop_relay(**_: object) -> None:
    from promptq.workers.refill import stop_refill_thread
    from promptq.workers.relay import stop_relay_thread

    stop_relay_thread()
    stop_refill_thread()
    _write_what_is_queued()


@worker_process_shutdown.connect
def _prefork_child_exits(**_: object) -> None:
    _write_what_is_queued()


def _write_what_is_queued() -> None:
    """Job claims and finishes, delivered webhook attempts and live events still queued in
    this process."""
    from promptq.workers import runtime

    rt = runtime.current()
    if rt is not None:
        rt.write_what_is_queued()

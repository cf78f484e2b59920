"""The throughput baseline: a minimal Celery app whose one task makes the same Anthropic
SDK request as promptq's `job_posting_extraction` (same model, prompt, max_tokens, forced
tool use with the task's schema, `max_retries=0`, the same timeouts) and does nothing else
but note, in one Redis round trip, when it started and finished (epoch seconds).

Celery's defaults otherwise: no acks_late, no task events, prefetch multiplier 4 — what
someone writing "just a Celery task that calls Claude" would have.

    BENCH_SIM_URL=http://127.0.0.1:8765 BENCH_PREFIX=pqbench-base-x \\
        celery -A bench.baseline_app worker -P threads -c 200 --without-gossip --without-mingle
"""

from __future__ import annotations

import os
import time
from functools import lru_cache
from typing import Any

import anthropic
import httpx2
import redis
from celery import Celery

from promptq.prompts.registry import get_task

TASK_NAME = "bench.extract"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
PREFIX = os.environ.get("BENCH_PREFIX", "pqbench-base")


def _configured(app: Celery, redis_url: str, prefix: str) -> Celery:
    app.conf.update(
        broker_url=redis_url,
        broker_transport_options={"global_keyprefix": f"{prefix}:celery:"},
        broker_connection_retry_on_startup=True,
        task_serializer="json", accept_content=["json"],
        task_ignore_result=True, worker_hijack_root_logger=False,
    )
    return app


app = _configured(Celery("bench-baseline"), REDIS_URL, PREFIX)


def producer(redis_url: str, prefix: str) -> Celery:
    """A Celery app that publishes to a baseline running under `prefix`."""
    return _configured(Celery("bench-baseline-producer"), redis_url, prefix)


@lru_cache
def _call_parts() -> tuple[anthropic.Anthropic, redis.Redis, dict[str, Any]]:
    task = get_task("job_posting_extraction")
    client = anthropic.Anthropic(api_key="sim-key-not-secret", base_url=os.environ["BENCH_SIM_URL"],
                                 max_retries=0, timeout=httpx2.Timeout(120.0, connect=5.0))
    schema = {k: v for k, v in task.schema.items() if k not in ("$schema", "title")}
    request = {
        "model": task.model, "max_tokens": task.max_output_tokens, "system": task.system_prompt,
        "tools": [{"name": task.tool_name, "description": task.description, "input_schema": schema}],
        "tool_choice": {"type": "tool", "name": task.tool_name},
        "template": task.prompt,
    }
    return client, redis.Redis.from_url(REDIS_URL), request


def call_provider(text: str) -> anthropic.types.Message:
    """The baseline's whole work: the task's request for `text`, one SDK call."""
    client, _, request = _call_parts()
    params = {k: v for k, v in request.items() if k != "template"}
    return client.messages.create(**params, messages=[{"role": "user", "content": request["template"].render(text)}])


@app.task(name=TASK_NAME, ignore_result=True)
def extract(doc_id: str, text: str) -> None:
    started = time.time()
    message = call_provider(text)
    assert message.content[0].type == "tool_use"
    done = time.time()
    r = _call_parts()[1]
    pipe = r.pipeline(transaction=False)
    pipe.hset(f"{PREFIX}:started", doc_id, started)
    pipe.hset(f"{PREFIX}:done", doc_id, done)
    pipe.incr(f"{PREFIX}:count")
    pipe.set(f"{PREFIX}:last", done)
    pipe.execute()

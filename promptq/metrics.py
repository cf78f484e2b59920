"""Counters every process adds to, kept in one Redis hash; `GET /metrics` renders them
in the Prometheus text format.

A field is `name{label="value",…}`, so rendering is a join, and any process on any
host can count without a registry of its own.
"""

from __future__ import annotations

from collections.abc import Mapping

import redis

from promptq import keys

HELP = {
    "promptq_provider_calls_total": "Provider calls by provider, model and outcome.",
    "promptq_jobs_finished_total": "Jobs that reached a terminal status, by task and status.",
    "promptq_refusals_total": "Answers the model refused, by task and model.",
    "promptq_retries_total": "Jobs rescheduled, by reason.",
    "promptq_fallbacks_total": "Moves down a task's model chain, by task and from-model.",
}


def field(name: str, labels: Mapping[str, str]) -> str:
    inner = ",".join(f'{k}="{str(v).replace(chr(34), "")}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def incr(client: redis.Redis | redis.client.Pipeline, prefix: str, name: str, **labels: str) -> None:
    client.hincrby(keys.metrics(prefix), field(name, labels), 1)


def render(values: Mapping[bytes | str, bytes | str]) -> str:
    """The Prometheus text exposition of the counters."""
    by_name: dict[str, list[str]] = {}
    for raw_field, raw_value in values.items():
        f = raw_field.decode() if isinstance(raw_field, bytes) else raw_field
        v = raw_value.decode() if isinstance(raw_value, bytes) else raw_value
        by_name.setdefault(f.split("{", 1)[0], []).append(f"{f} {v}")
    lines: list[str] = []
    for name in sorted(by_name):
        lines += [f"# HELP {name} {HELP.get(name, name)}", f"# TYPE {name} counter", *sorted(by_name[name])]
    return "\n".join(lines) + "\n"

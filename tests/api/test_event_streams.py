"""Live event streams are capped per API process (PROMPTQ_MAX_EVENT_STREAMS): each holds
a Redis connection while it waits, and Redis is shared with the broker and the rate
limiter. Beyond the cap a stream request answers 503 at once; polling still works, and
a closed stream frees its place. One tenant may hold only so many of those places
(PROMPTQ_MAX_EVENT_STREAMS_PER_TENANT): beyond that its requests answer 429, and other
tenants' streams are served."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests

from promptq.launch import free_port
from support import bearer, postgres_database, served_api, wait_until

KEY = bearer()
JOB = {"task": "invoice_extraction", "input": {"text": "Invoice INV-31, total 31 USD"}}


@contextmanager
def api_of_its_own(tmp_path, **env: str) -> Iterator[str]:
    """`promptq api` (uvicorn) on a database and Redis prefix of its own, so that no worker
    runs its jobs: they stay queued and their streams stay open."""
    with postgres_database() as url:
        # under the session's Redis prefix: the session's cleanup removes its keys
        prefix = f"{os.environ['PROMPTQ_REDIS_PREFIX']}-streams-{uuid.uuid4().hex[:8]}"
        with served_api(tmp_path, PROMPTQ_DATABASE_URL=url, PROMPTQ_REDIS_PREFIX=prefix, **env) as base:
            yield base


@pytest.fixture
def api_with_two_streams(tmp_path):
    with api_of_its_own(tmp_path, PROMPTQ_MAX_EVENT_STREAMS="2") as base:
        yield base


def test_a_stream_outlives_the_redis_read_timeout_and_pings_while_the_job_waits(tmp_path):
    """An idle stream blocks in Redis for PROMPTQ_EVENT_PING_S, here 6 s: longer than the
    5 s read timeout of the API's other Redis commands, which used to cut the stream."""
    with api_of_its_own(tmp_path, PROMPTQ_EVENT_PING_S="6") as base:
        job = requests.post(f"{base}/v1/jobs", json=JOB, headers=KEY, timeout=10).json()
        with requests.get(f"{base}/v1/jobs/{job['id']}/events", headers=KEY, stream=True, timeout=20) as r:
            events: list[bytes] = []
            lines = r.iter_lines()
            while len(events) < 2:
                line = next(lines)  # raises if the server cut the stream
                if line.startswith(b"event:"):
                    events.append(line)
    assert events == [b"event: job", b"event: ping"]


def test_streams_beyond_the_cap_are_a_503_and_a_closed_stream_frees_its_place(api_with_two_streams):
    base = api_with_two_streams
    job = requests.post(f"{base}/v1/jobs", json=JOB, headers=KEY, timeout=10).json()
    url = f"{base}/v1/jobs/{job['id']}/events"

    def open_stream() -> requests.Response:
        r = requests.get(url, headers=KEY, stream=True, timeout=10)
        if r.status_code == 200:
            r.lines = r.iter_lines()  # kept: a dropped iterator closes the connection
            assert next(r.lines) == b"event: job"  # the snapshot: the stream is running
        return r

    first, second = open_stream(), open_stream()
    assert first.status_code == second.status_code == 200
    third = open_stream()
    assert third.status_code == 503
    assert third.json()["error"]["type"] == "too_many_streams" and third.headers["retry-after"]
    assert requests.get(f"{base}/v1/jobs/{job['id']}", headers=KEY, timeout=10).status_code == 200

    first.close()  # the server notices the disconnect at its next wait
    wait_until(lambda: (r := open_stream()).status_code == 200 and (r.close() or True),
               timeout_s=30, what="a place freed by the closed stream")
    second.close()


def test_one_tenant_at_its_stream_cap_gets_a_429_and_other_tenants_are_still_served(tmp_path):
    with api_of_its_own(tmp_path, PROMPTQ_MAX_EVENT_STREAMS_PER_TENANT="1") as base:
        streams = []

        def open_stream(tenant: str) -> requests.Response:
            job = requests.post(f"{base}/v1/jobs", json=JOB, headers=bearer(tenant), timeout=10).json()
            r = requests.get(f"{base}/v1/jobs/{job['id']}/events", headers=bearer(tenant), stream=True, timeout=10)
            streams.append(r)
            if r.status_code == 200:
                r.lines = r.iter_lines()  # kept: a dropped iterator closes the connection
                assert next(r.lines) == b"event: job"
            return r

        try:
            assert open_stream("acme").status_code == 200
            again = open_stream("acme")
            assert again.status_code == 429, again.text
            assert again.json()["error"]["type"] == "too_many_streams"
            assert "PROMPTQ_MAX_EVENT_STREAMS_PER_TENANT" in again.json()["error"]["message"]
            assert int(again.headers["retry-after"]) > 0
            spec = requests.get(f"{base}/openapi.json", timeout=10).json()
            assert "429" in spec["paths"]["/v1/jobs/{job_id}/events"]["get"]["responses"]  # as documented
            assert open_stream("globex").status_code == 200  # another tenant's place is its own
        finally:
            for r in streams:
                r.close()


def test_with_redis_away_a_stream_follows_the_store_and_ends_with_the_final_job(tmp_path):
    with api_of_its_own(tmp_path, PROMPTQ_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
                    PROMPTQ_EVENT_PING_S="1") as base:
        job = requests.post(f"{base}/v1/jobs", json=JOB, headers=KEY, timeout=10).json()
        with requests.get(f"{base}/v1/jobs/{job['id']}/events", headers=KEY, stream=True, timeout=20) as r:
            lines = r.iter_lines()
            events = []
            while len(events) < 2:
                line = next(lines)
                if line.startswith(b"event:"):
                    events.append(line)
            assert events == [b"event: job", b"event: ping"]  # alive, though Redis is away
            assert requests.post(f"{base}/v1/jobs/{job['id']}/cancel", headers=KEY, timeout=10).ok
            rest = list(lines)  # the stream ends by itself
    final = [json.loads(line[len(b"data: "):]) for line in rest if line.startswith(b"data: {")][-1]
    assert final["id"] == job["id"] and final["status"] == "cancelled"

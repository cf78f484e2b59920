"""The API never accepts what it cannot store, serialise and deliver, and never answers
500 to bad input: deep nesting, NUL and lone surrogates anywhere a string goes, numbers
JSON cannot write, webhook URLs urllib cannot parse, non-ASCII credentials. On SQLite
and PostgreSQL (PostgreSQL refuses NUL in text itself, so a 500 there is the bug)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, select

from promptq.api.app import create_app
from promptq.api.json_depth import MAX_BODY_DEPTH
from promptq.api.schemas import MAX_METADATA_DEPTH
from promptq.settings import Settings
from promptq.store.models import Batch, Job
from support import bearer

KEY = bearer()
JSON = {"content-type": "application/json", **KEY}
TASK = "invoice_extraction"


@pytest.fixture(scope="module")
def api(database_url: str, sim_url: str) -> Iterator[TestClient]:
    """The real app on the session's database, without a worker: nothing here should run."""
    with TestClient(create_app(Settings(database_url=database_url)), raise_server_exceptions=False) as client:
        yield client


def counts(api: TestClient) -> tuple[int, int]:
    with Session(api.app.state.engine) as s:
        return (s.exec(select(func.count()).select_from(Job)).one(),
                s.exec(select(func.count()).select_from(Batch)).one())


def post(api: TestClient, path: str, body: Any, **headers: str):
    """POST `body` as Python's json writes it: lone surrogates as \\uXXXX escapes, NaN as
    NaN (what a client could send; httpx's own encoder cannot write either)."""
    return api.post(path, content=json.dumps(body).encode(), headers={**JSON, **headers})


def nested(levels: int) -> dict[str, Any]:
    """An object `levels` deep (itself the first level)."""
    value: Any = "leaf"
    for _ in range(levels):
        value = {"a": value}
    return value


def refused(r, status: int = 422, error_type: str = "invalid_request") -> None:
    assert r.status_code == status, r.text[:300]
    assert r.json()["error"]["type"] == error_type and r.json()["error"]["message"]


def test_metadata_260_levels_deep_is_refused_and_stores_nothing(api):
    """Reported: 500 from POST /v1/jobs with the job committed (and running)."""
    before = counts(api)
    r = post(api, "/v1/jobs", {"task": TASK, "input": {"text": "x"}, "metadata": nested(260),
                               "webhook_url": "http://127.0.0.1:9/hook"})
    refused(r)
    assert f"{MAX_BODY_DEPTH} levels" in r.json()["error"]["message"]
    r = post(api, "/v1/batches", {"task": TASK, "documents": [{"text": "a"}, {"text": "b", "metadata": nested(260)}],
                                  "webhook_url": "http://127.0.0.1:9/hook"})
    refused(r)
    assert counts(api) == before


def test_metadata_is_limited_to_32_levels(api):
    before = counts(api)
    too_deep = nested(MAX_METADATA_DEPTH + 1)
    for path, body in [("/v1/jobs", {"task": TASK, "input": {"text": "x"}, "metadata": too_deep}),
                       ("/v1/batches", {"task": TASK, "documents": [{"text": "x", "metadata": too_deep}]})]:
        r = post(api, path, body)
        refused(r)
        assert f"{MAX_METADATA_DEPTH} levels" in r.json()["error"]["message"]
    assert counts(api) == before
    made = post(api, "/v1/jobs", {"task": TASK, "input": {"text": "x"}, "metadata": nested(MAX_METADATA_DEPTH)})
    assert made.status_code == 202, made.text[:300]
    got = api.get(f"/v1/jobs/{made.json()['id']}", headers=KEY)
    assert got.status_code == 200 and got.json()["metadata"] == nested(MAX_METADATA_DEPTH)


@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/batches"])
@pytest.mark.parametrize("opening", [b"[", b'{"a":'])
def test_a_100000_levels_deep_body_is_a_422(api, path, opening):
    """Python's json module recurses: without the scan this parse would hit RecursionError."""
    closing = b"]" if opening == b"[" else b"}"
    body = (b'{"task":"invoice_extraction","input":{"text":"x"},"metadata":'
            + opening * 100_000 + b"1" + closing * 100_000 + b"}")
    before = counts(api)
    refused(api.post(path, content=body, headers=JSON))
    assert counts(api) == before


# Lone surrogates, high and low (valid JSON as escapes, not UTF-8), and a NUL (PostgreSQL
# refuses it in text and json).
BAD = ["a\ud800b", "a\x00b", "\udfff"]


def bad_bodies() -> Iterator[tuple[str, str, Any]]:
    for bad in BAD:
        yield "/v1/jobs", "text", {"task": TASK, "input": {"text": bad}}
        yield "/v1/jobs", "messages", {"task": TASK, "input": {"messages": [{"role": "user", "content": bad}]}}
        yield "/v1/jobs", "metadata key", {"task": TASK, "input": {"text": "x"}, "metadata": {bad: 1}}
        yield "/v1/jobs", "metadata value", {"task": TASK, "input": {"text": "x"}, "metadata": {"k": [1, {"v": bad}]}}
        yield "/v1/jobs", "nested metadata key", {"task": TASK, "input": {"text": "x"}, "metadata": {"k": {bad: 1}}}
        yield "/v1/jobs", "webhook_url", {"task": TASK, "input": {"text": "x"},
                                          "webhook_url": f"http://127.0.0.1/{bad}"}
        yield "/v1/jobs", "task", {"task": bad, "input": {"text": "x"}}
        yield "/v1/batches", "text", {"task": TASK, "documents": [{"text": "ok"}, {"text": bad}]}
        yield "/v1/batches", "custom_id", {"task": TASK, "documents": [{"text": "x", "custom_id": bad}]}
        yield "/v1/batches", "metadata key", {"task": TASK, "documents": [{"text": "x", "metadata": {bad: "v"}}]}
        yield "/v1/batches", "metadata value", {"task": TASK, "documents": [{"text": "x", "metadata": {"k": bad}}]}
        yield "/v1/batches", "webhook_url", {"task": TASK, "documents": [{"text": "x"}],
                                             "webhook_url": f"http://127.0.0.1/?q={bad}"}


@pytest.mark.parametrize(("path", "field", "body"), list(bad_bodies()), ids=lambda v: v if isinstance(v, str) else "")
def test_nul_and_lone_surrogates_are_a_422_and_store_nothing(api, path, field, body):
    before = counts(api)
    refused(post(api, path, body))
    assert counts(api) == before


def test_a_surrogate_as_raw_bytes_is_a_422(api):
    before = counts(api)
    body = b'{"task":"invoice_extraction","input":{"text":"x"},"metadata":{"k":"a\xed\xa0\x80b"}}'
    refused(api.post("/v1/jobs", content=body, headers=JSON))
    assert counts(api) == before


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_numbers_json_cannot_write_are_a_422(api, number):
    before = counts(api)
    refused(post(api, "/v1/jobs", {"task": TASK, "input": {"text": "x"}, "metadata": {"n": [number]}}))
    refused(post(api, "/v1/batches", {"task": TASK, "documents": [{"text": "x", "metadata": {"n": number}}]}))
    assert counts(api) == before


def test_a_nul_in_the_idempotency_key_is_a_422(api):
    before = counts(api)
    refused(post(api, "/v1/jobs", {"task": TASK, "input": {"text": "x"}}, **{"Idempotency-Key": "a\x00b"}))
    assert counts(api) == before


def test_a_nul_in_path_and_query_parameters_is_a_422(api):
    batch = post(api, "/v1/batches", {"task": TASK, "documents": [{"text": "x"}]}).json()
    for method, path in [("get", "/v1/jobs/job_%00x"), ("get", "/v1/jobs/%00"), ("post", "/v1/jobs/job_%00x/cancel"),
                         ("get", "/v1/jobs/job_%00x/events"), ("get", "/v1/batches/batch_%00"),
                         ("get", "/v1/batches/batch_%00/jobs"), ("post", "/v1/batches/batch_%00/cancel"),
                         ("get", f"/v1/batches/{batch['id']}/jobs?after=job_%00")]:
        refused(getattr(api, method)(path, headers=KEY))
    api.post(f"/v1/batches/{batch['id']}/cancel", headers=KEY)


@pytest.mark.parametrize("url", ["http://example.com:99999/hook", "http://127.0.0.1:99999/hook",
                                 "http://127.0.0.1:0/hook", "http://example.com:abc/hook",
                                 "http://127.0.0.1:-1/hook", "http://[::1/hook"])
def test_a_webhook_url_with_an_invalid_port_or_host_is_a_422_at_submit(api, url):
    before = counts(api)
    refused(post(api, "/v1/jobs", {"task": TASK, "input": {"text": "x"}, "webhook_url": url}),
            error_type="invalid_webhook_url")
    refused(post(api, "/v1/batches", {"task": TASK, "documents": [{"text": "x"}], "webhook_url": url}),
            error_type="invalid_webhook_url")
    assert counts(api) == before


@pytest.mark.parametrize("value", ["Bearer é".encode(), b"Bearer \xff\xfe", "Bearer ключ".encode(),
                                   b"\xc3\xa9 token", b"Bearer acme-key-\x80"])
def test_a_non_ascii_authorization_header_is_a_401(api, value):
    before = counts(api)
    for method, path in [("get", "/v1/tasks"), ("get", "/v1/jobs/job_x"), ("post", "/v1/jobs"),
                         ("post", "/v1/batches"), ("get", "/metrics")]:
        body = {"content": b'{"task":"invoice_extraction","input":{"text":"x"}}'} if method == "post" else {}
        r = getattr(api, method)(path, headers={"Authorization": value, "content-type": "application/json"}, **body)
        refused(r, 401, "authentication_error")
    assert counts(api) == before


def test_a_deep_body_through_a_real_server_is_a_422(database_url, tmp_path):
    """uvicorn hands a large body over in many chunks: the scan refuses it part way."""
    import requests

    from support import served_api

    body = b'{"task":"invoice_extraction","input":{"text":"x"},"metadata":' + b"[" * 1_000_000 + b"]" * 1_000_000 + b"}"
    with served_api(tmp_path, PROMPTQ_DATABASE_URL=database_url) as url:
        r = requests.post(f"{url}/v1/jobs", data=body, headers=JSON, timeout=60)
        assert r.status_code == 422, r.text[:300]
        assert r.json()["error"]["type"] == "invalid_request"
        assert requests.get(f"{url}/healthz", timeout=10).status_code == 200

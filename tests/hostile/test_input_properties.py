"""Property: whatever the API accepts comes back unchanged — from the job object, the
batch listing, the event stream's JSON and the webhook payload — and whatever it refuses
is a 4xx, never a 500. Random text, custom ids and nested metadata, on SQLite and
PostgreSQL, through the real app and store (no worker: nothing needs to run)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from promptq.api.app import create_app
from promptq.settings import Settings
from promptq.store import deliveries
from promptq.store.models import Job
from promptq.store.public import JobPublic
from support import bearer

JSON = {"content-type": "application/json", **bearer()}
TASK = "invoice_extraction"
EXAMPLES = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Any character the API keeps: everything but NUL and the surrogates (a lone one is not UTF-8).
STORABLE = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
ANY_CHAR = st.characters()  # surrogates and NUL included: refused, never a 500


def metadata(chars: st.SearchStrategy[str], floats: st.SearchStrategy[float]) -> st.SearchStrategy[dict[str, Any]]:
    # Within the limits (keys, bytes, depth) however it is drawn.
    text = st.text(chars, max_size=16)
    scalars = st.none() | st.booleans() | st.integers() | floats | text
    values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
                          max_leaves=10)
    return st.dictionaries(text, values, max_size=8)


ACCEPTED = {
    "text": st.text(STORABLE, min_size=1, max_size=300),
    "custom_id": st.none() | st.text(STORABLE, max_size=128),
    "metadata": st.none() | metadata(STORABLE, st.floats(allow_nan=False, allow_infinity=False)),
}
ANYTHING = {
    "text": st.text(ANY_CHAR, min_size=1, max_size=300),
    "custom_id": st.none() | st.text(ANY_CHAR, max_size=128),
    "metadata": st.none() | metadata(ANY_CHAR, st.floats()),
}


@pytest.fixture(scope="module")
def api(database_url: str, sim_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=database_url)), raise_server_exceptions=False) as client:
        yield client


def post(api: TestClient, path: str, body: Any):
    # Python's json writes lone surrogates as escapes and NaN as NaN, as a client could.
    return api.post(path, content=json.dumps(body).encode(), headers=JSON)


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (True is not 1, 1.0 is not 1)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def assert_round_trip(api: TestClient, job: dict[str, Any], text: str, custom_id: str | None,
                      meta: dict[str, Any] | None) -> None:
    """The job, as every reader of it sees it, holds exactly what was sent."""
    got = api.get(f"/v1/jobs/{job['id']}", headers=JSON)
    assert got.status_code == 200, got.text[:300]
    views = [job, got.json()]
    if job["batch_id"]:
        listed = api.get(f"/v1/batches/{job['batch_id']}/jobs", headers=JSON)
        assert listed.status_code == 200, listed.text[:300]
        views += listed.json()["data"]
    with Session(api.app.state.engine) as s:
        row = s.get(Job, job["id"])
        assert row is not None and row.input_text == text
        public = JobPublic.of(row)
        views.append(json.loads(public.model_dump_json()))  # the event stream's `job` events
        # The webhook payload, built as the worker stores it in webhook_deliveries.
        views.append(json.loads(deliveries.event_body(f"job.{row.status}", public.model_dump(mode="json")))["data"])
    for view in views:
        assert view["id"] == job["id"]
        assert view["custom_id"] == custom_id
        assert same(view["metadata"], meta), (view["metadata"], meta)


def submit_job(api: TestClient, text: str, meta: dict[str, Any] | None):
    return post(api, "/v1/jobs", {"task": TASK, "input": {"text": text}, "metadata": meta})


def submit_batch(api: TestClient, text: str, custom_id: str | None, meta: dict[str, Any] | None):
    return post(api, "/v1/batches", {"task": TASK, "documents": [{"text": text, "custom_id": custom_id,
                                                                   "metadata": meta}]})


def batch_job(api: TestClient, batch: dict[str, Any]) -> dict[str, Any]:
    listed = api.get(f"/v1/batches/{batch['id']}/jobs", headers=JSON)
    assert listed.status_code == 200, listed.text[:300]
    return listed.json()["data"][0]


@EXAMPLES
@given(**ACCEPTED)
def test_accepted_inputs_round_trip(api, text, custom_id, metadata):
    r = submit_job(api, text, metadata)
    assert r.status_code == 202, r.text[:300]
    assert_round_trip(api, r.json(), text, None, metadata)
    r = submit_batch(api, text, custom_id, metadata)
    assert r.status_code == 202, r.text[:300]
    assert_round_trip(api, batch_job(api, r.json()), text, custom_id, metadata)


@EXAMPLES
@given(**ANYTHING)
def test_any_input_is_accepted_whole_or_refused_with_a_4xx(api, text, custom_id, metadata):
    r = submit_job(api, text, metadata)
    assert r.status_code in (202, 413, 422), r.text[:300]
    if r.status_code == 202:
        assert_round_trip(api, r.json(), text, None, metadata)
    r = submit_batch(api, text, custom_id, metadata)
    assert r.status_code in (202, 413, 422), r.text[:300]
    if r.status_code == 202:
        assert_round_trip(api, batch_job(api, r.json()), text, custom_id, metadata)

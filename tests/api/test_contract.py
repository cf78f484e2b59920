"""The published OpenAPI schema tells the truth about errors: every error a route
answers is documented for it, with the body it really has, and a 405 names the
methods that are allowed."""

from __future__ import annotations

import jsonschema
import pytest

OK_JOB = {"task": "invoice_extraction", "input": {"text": "Invoice INV-7, total 70 USD"}}
NO_KEY: dict[str, str] = {}
JSON = {"content-type": "application/json"}


def _cases(stack) -> list[tuple[str, str, str, dict, int]]:
    """(method, path as documented, path as requested, request kwargs, the status it gets)."""
    key = stack.headers()
    big = {"text": "x" * (stack.settings.max_document_chars + 1)}
    return [
        ("post", "/v1/jobs", "/v1/jobs", {"json": OK_JOB, "headers": NO_KEY}, 401),
        ("post", "/v1/jobs", "/v1/jobs", {"json": {"task": "x"}, "headers": key}, 422),
        ("post", "/v1/jobs", "/v1/jobs", {"content": b"\xff\xfe{", "headers": {**key, **JSON}}, 400),
        ("post", "/v1/batches", "/v1/batches", {"content": b"\xc3(", "headers": {**key, **JSON}}, 400),
        ("post", "/v1/jobs", "/v1/jobs", {"json": {**OK_JOB, "input": big}, "headers": key}, 413),
        ("get", "/v1/jobs/{job_id}", "/v1/jobs/job_nope", {"headers": key}, 404),
        ("post", "/v1/jobs/{job_id}/cancel", "/v1/jobs/job_nope/cancel", {"headers": key}, 404),
        ("get", "/v1/jobs/{job_id}/events", "/v1/jobs/job_nope/events", {"headers": key}, 404),
        ("post", "/v1/batches", "/v1/batches", {"json": {"task": OK_JOB["task"], "documents": [big]},
                                               "headers": key}, 413),
        ("post", "/v1/batches", "/v1/batches", {"json": {"documents": []}, "headers": key}, 422),
        ("get", "/v1/batches/{batch_id}", "/v1/batches/batch_nope", {"headers": key}, 404),
        ("get", "/v1/batches/{batch_id}/jobs", "/v1/batches/batch_nope/jobs", {"headers": key}, 404),
        ("post", "/v1/batches/{batch_id}/cancel", "/v1/batches/batch_nope/cancel", {"headers": key}, 404),
        ("get", "/v1/tasks", "/v1/tasks", {"headers": NO_KEY}, 401),
        ("get", "/v1/webhooks/secret", "/v1/webhooks/secret", {"headers": NO_KEY}, 401),
        ("get", "/metrics", "/metrics", {"headers": NO_KEY}, 401),
    ]


def test_every_error_a_route_answers_is_documented_with_its_real_body(stack):
    spec = stack.api.get("/openapi.json").json()
    error_schema = {"$ref": "#/components/schemas/ErrorResponse", "components": spec["components"]}
    for method, documented_path, path, kwargs, status in _cases(stack):
        r = stack.api.request(method.upper(), path, **kwargs)
        assert r.status_code == status, (method, path, r.text)
        responses = spec["paths"][documented_path][method]["responses"]
        assert str(status) in responses, f"{method} {documented_path} answers {status}, undocumented"
        documented = responses[str(status)]["content"]["application/json"]["schema"]
        assert documented == {"$ref": "#/components/schemas/ErrorResponse"}, (method, documented_path, status)
        jsonschema.validate(r.json(), error_schema)


def test_no_route_documents_a_validation_body_promptq_never_sends(stack):
    """FastAPI's default 422 body is {"detail": [...]}; promptq answers {"error": {...}}."""
    spec = stack.api.get("/openapi.json").json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith("4"):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path, status)


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("TRACE", "/healthz", "GET"),
    ("DELETE", "/v1/jobs", "POST"),
    ("PUT", "/v1/jobs/job_nope/cancel", "POST"),
])
def test_a_method_not_allowed_is_a_405_naming_the_allowed_ones(stack, method, path, allowed):
    r = stack.api.request(method, path, headers=stack.headers())
    assert r.status_code == 405
    assert r.headers["allow"] == allowed
    assert r.json()["error"]["type"] == "method_not_allowed"


def test_the_schema_says_an_input_is_a_text_or_messages_as_the_api_decides(stack):
    """Exactly one of `text` and `messages` (a null counts as absent): the published
    schema accepts an input exactly when the API does."""
    spec = stack.api.get("/openapi.json").json()
    job_input = {"$ref": "#/components/schemas/JobInput", "components": spec["components"]}
    said = [{"role": "user", "content": "Invoice INV-8, total 80 USD"}]
    inputs = [{"text": "Invoice INV-8"}, {"messages": said}, {"text": "Invoice INV-8", "messages": None},
              {"text": None, "messages": said}, {"text": "Invoice INV-8", "messages": said}, {},
              {"text": None}, {"text": None, "messages": None}]
    for given in inputs:
        r = stack.api.post("/v1/jobs", json={**OK_JOB, "input": given}, headers=stack.headers())
        assert r.status_code in (202, 422), r.text
        valid = jsonschema.Draft202012Validator(job_input).is_valid(given)
        assert valid == (r.status_code == 202), (given, r.status_code, r.text)
    assert sum(jsonschema.Draft202012Validator(job_input).is_valid(given) for given in inputs) == 4


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_load_their_assets_from_the_api_not_a_cdn(stack, page):
    html = stack.api.get(page).text
    assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html
    assets = [part.split('"')[0] for part in html.split('src="')[1:] + html.split('href="')[1:]]
    local = [a for a in assets if a.startswith("/")]
    assert any(a.endswith(".js") for a in local), assets
    for asset in local:
        answer = stack.api.get(asset)
        assert answer.status_code == 200 and len(answer.content) > 1000, asset

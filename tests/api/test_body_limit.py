"""A request body over PROMPTQ_MAX_REQUEST_BYTES is refused with a 413 before it is read —
with a declared length (with or without a key) or chunked — so nobody can make the API
hold a body it will refuse anyway. (A body without a known key is refused with a 401
before it is read, whatever its size: tests/api/test_key_first.py.)"""

from __future__ import annotations

import json
import select
import socket
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from promptq.api.app import create_app
from promptq.settings import Settings
from support import bearer, served_api

LIMIT = 64 * 1024
KEY = bearer()
JSON = {"content-type": "application/json"}


def job(chars: int) -> bytes:
    return json.dumps({"task": "invoice_extraction", "input": {"text": "x" * chars}}).encode()


@pytest.fixture
def api(database_url, sim_url):
    with TestClient(create_app(Settings(database_url=database_url, max_request_bytes=LIMIT))) as client:
        yield client


def test_a_declared_length_over_the_limit_is_a_413_even_without_a_key(api):
    for headers in ({}, KEY):
        r = api.post("/v1/jobs", content=job(2 * LIMIT), headers={**JSON, **headers})
        assert r.status_code == 413, r.text
        assert r.json()["error"]["type"] == "payload_too_large"
        assert "PROMPTQ_MAX_REQUEST_BYTES" in r.json()["error"]["message"]


def test_a_body_within_the_limit_is_served_as_before(api):
    assert api.post("/v1/jobs", content=job(LIMIT // 2), headers={**JSON}).status_code == 401
    made = api.post("/v1/jobs", content=job(LIMIT // 2), headers={**JSON, **KEY})
    assert made.status_code == 202, made.text
    api.post(f"/v1/jobs/{made.json()['id']}/cancel", headers=KEY)  # no stray work for other tests


@pytest.fixture
def server_port(database_url, tmp_path):
    """The port of `promptq api` as a real server (uvicorn) with a 64 KiB limit."""
    with served_api(tmp_path, PROMPTQ_DATABASE_URL=database_url, PROMPTQ_MAX_REQUEST_BYTES=str(LIMIT)) as url:
        yield urlsplit(url).port


def _answer(sock: socket.socket) -> bytes:
    sock.settimeout(10)
    answer = b""
    while b"\r\n\r\n" not in answer:
        piece = sock.recv(65536)
        if not piece:
            break
        answer += piece
    return answer


def test_a_chunked_body_is_refused_once_it_passes_the_limit_without_being_read_to_its_end(server_port):
    total = 64 * 1024 * 1024  # 1,024 × the limit, if the server read it all
    chunk = b"x" * 16 * 1024
    sent = 0
    with socket.create_connection(("127.0.0.1", server_port)) as sock:
        sock.sendall(b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Authorization: " + KEY["Authorization"].encode() + b"\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        try:
            while sent < total and not select.select([sock], [], [], 0)[0]:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed: the rest was never going to be read
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < total // 8, f"{sent} bytes went out before the server answered"


def test_a_declared_length_over_the_limit_is_answered_before_any_body_is_sent(server_port):
    with socket.create_connection(("127.0.0.1", server_port)) as sock:
        sock.sendall(b"POST /v1/batches HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000000000\r\n\r\n")
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]

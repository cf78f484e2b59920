"""A request that carries a body without a known API key is answered 401 before its body
is read: nobody without a key can make the API read and parse a body (up to
PROMPTQ_MAX_REQUEST_BYTES) only to be refused. A known key goes on to the route as before,
and an unreachable store is still a 503, not a 401."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from promptq.api.app import create_app
from promptq.api.key_first import bearer_token
from promptq.settings import Settings
from support import TENANT_KEYS, bearer, postgres_database, served_api, set_database_reachable

BODY = json.dumps({"task": "invoice_extraction", "input": {"text": "Invoice INV-7, total 70 USD"}}).encode()


@pytest.mark.parametrize("header, token", [
    ("Bearer abc", "abc"), ("bearer abc", "abc"), ("BEARER abc", "abc"),
    ("Basic abc", None), ("Bearer", None), ("Bearer ", None), ("", None), (None, None),
    ("Bearer  abc ", "abc"),  # spaces around the token, as the routes' HTTPBearer strips them
])
def test_the_bearer_token_of_an_authorization_header(header, token):
    assert bearer_token(header) == token


@pytest.fixture
def server_port(database_url, tmp_path):
    with served_api(tmp_path, PROMPTQ_DATABASE_URL=database_url) as url:
        yield urlsplit(url).port


def _head(port: int, path: str, *headers: bytes) -> socket.socket:
    """A connection on which only the request's head was sent, no body."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 + b"".join(h + b"\r\n" for h in headers) + b"\r\n")
    sock.settimeout(10)
    return sock


def _answer(sock: socket.socket) -> tuple[bytes, dict]:
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        piece = sock.recv(65536)
        if not piece:
            break
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    return head, json.loads(body)


@pytest.mark.parametrize("auth", [
    b"",                                             # no key
    b"Authorization: Bearer not-a-key-of-anyone",   # an unknown key
    b"Authorization: Basic YWNtZTpzZWNyZXQ=",        # another scheme
])
@pytest.mark.parametrize("framing", [b"Content-Length: 50000000", b"Transfer-Encoding: chunked"])
def test_a_body_without_a_known_key_is_refused_before_it_is_sent(server_port, auth, framing):
    with _head(server_port, "/v1/batches", framing, *([auth] if auth else [])) as sock:
        head, body = _answer(sock)  # answered although not one byte of the 50 MB went out
    assert head.startswith(b"HTTP/1.1 401"), head
    assert b"www-authenticate: bearer" in head.lower()
    assert b"connection: close" in head.lower()  # the unread body is not read afterwards either
    assert body["error"]["type"] == "authentication_error"


def test_a_body_with_a_known_key_is_read_and_served(server_port):
    key = f"Authorization: Bearer {TENANT_KEYS['acme']}".encode()
    with _head(server_port, "/v1/jobs", f"Content-Length: {len(BODY)}".encode(), key) as sock:
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            sock.recv(1)  # nothing is answered before the body: the route waits for it
        sock.settimeout(10)
        sock.sendall(BODY)
        head, job = _answer(sock)
    assert head.startswith(b"HTTP/1.1 202"), head
    assert job["status"] == "queued"


def test_an_unreachable_store_is_a_503_not_a_401(sim_url):
    with postgres_database() as url:
        database = url.rsplit("/", 1)[1]
        with TestClient(create_app(Settings(database_url=url))) as api:
            set_database_reachable(database, False)
            try:
                # globex's key was never used here: it is not remembered, the store must be asked
                r = api.post("/v1/jobs", content=BODY, headers={"content-type": "application/json", **bearer("globex")})
                assert r.status_code == 503, r.text
                assert r.json()["error"]["type"] == "unavailable"
            finally:
                set_database_reachable(database, True)
            # back: the key is checked (and remembered), the job accepted
            r = api.post("/v1/jobs", content=BODY, headers={"content-type": "application/json", **bearer("globex")})
            assert r.status_code == 202, r.text
            api.post(f"/v1/jobs/{r.json()['id']}/cancel", headers=bearer("globex"))

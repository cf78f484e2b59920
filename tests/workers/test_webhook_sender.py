"""The webhook sender connects to the address it checked, not to a later DNS answer, and
keeps connections alive per checked address and host name."""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx2
import pytest
from standardwebhooks.webhooks import Webhook

from promptq.receiver import WebhookReceiver
from promptq.webhook_policy import checked_address
from promptq.workers.webhooks import sender

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class SyncClient:
    """A WebhookClient on an event loop of its own, called from the test's thread."""

    def __init__(self, **kwargs: object) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = sender.WebhookClient(**kwargs)

    def post(self, *args: object, **kwargs: object) -> int:
        return self.loop.run_until_complete(self.client.post(*args, **kwargs))

    def send(self, *args: object, **kwargs: object) -> sender.AttemptResult:
        return self.loop.run_until_complete(sender.post(*args, client=self.client, **kwargs))


def send(*args: object, **kwargs: object) -> sender.AttemptResult:
    """One attempt through a new client (sender.post)."""
    return SyncClient().send(*args, **kwargs)


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler], address: str = "127.0.0.1", port: int = 0,
            tls: ssl.SSLContext | None = None) -> Iterator[ThreadingHTTPServer]:
    """A local HTTP(S) server with `handler` on a thread, for the duration of the block."""
    server = ThreadingHTTPServer((address, port), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_the_address_checked_is_the_address_used_whatever_dns_answers_later(monkeypatch):
    answers = iter(["93.184.215.14", "127.0.0.1"])  # public at check time, loopback afterwards

    def fake_getaddrinfo(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    host, address = checked_address("http://rebind.example/hook", [])
    assert (host, address) == ("rebind.example", "93.184.215.14")


def test_signed_post_to_an_allowed_host_verifies_with_standard_webhooks():
    receiver = WebhookReceiver(secret=SECRET)
    try:
        result = send(receiver.url, SECRET, "msg_1", '{"type":"job.succeeded","data":{}}',
                      allowed_hosts=["127.0.0.1"], timeout_s=5)
        assert result.delivered and result.status_code == 204
        [delivery] = receiver.deliveries
        assert delivery.verified is True and delivery.headers["webhook-id"] == "msg_1"
        Webhook(SECRET).verify(delivery.body, delivery.headers)
    finally:
        receiver.stop()


def test_a_private_target_not_allowed_is_refused_without_a_connection():
    receiver = WebhookReceiver(secret=SECRET)
    try:
        result = send(receiver.url, SECRET, "msg_2", "{}", allowed_hosts=[], timeout_s=5)
        assert not result.delivered and result.error.startswith("refused")
        assert receiver.deliveries == []
    finally:
        receiver.stop()


def test_a_pinned_post_connects_to_the_checked_address_with_the_original_host_header():
    receiver = WebhookReceiver(secret=SECRET)
    try:
        port = receiver.url.split(":")[2].split("/")[0]
        # A name that resolves nowhere: the pinned connection never asks DNS.
        headers = sender.signed_headers(SECRET, "msg_3", "{}")
        status = SyncClient().post(f"http://pinned.invalid:{port}/webhooks", b"{}", headers,
                                             address="127.0.0.1", timeout_s=5)
        assert status == 204
        assert receiver.deliveries[0].headers["host"] == f"pinned.invalid:{port}"
        assert receiver.deliveries[0].verified is True
    finally:
        receiver.stop()


class _PeerRecorder(BaseHTTPRequestHandler):
    """Answers 204 and notes which client connection (address, port) each POST came on."""

    protocol_version = "HTTP/1.1"  # keep-alive
    peers: list[tuple[str, int]] = []

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("content-length", 0)))
        type(self).peers.append((self.server.server_address[0], self.client_address[1]))
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_connections_are_kept_alive_per_checked_address_and_never_shared_between_addresses():
    _PeerRecorder.peers = []
    with serving(_PeerRecorder) as first, serving(_PeerRecorder, "127.0.0.2", first.server_address[1]):
        client = SyncClient()
        url = f"http://hooks.example:{first.server_address[1]}/in"  # one name, "resolved" to two addresses
        for address in ("127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.1"):
            assert client.post(url, b"{}", {}, address=address, timeout_s=5) == 204
    one, two, other, three = _PeerRecorder.peers
    assert one == two == three, "the same checked address reuses its kept-alive connection"
    assert other[0] == "127.0.0.2", "a connection to one address never carries a POST for another"


def test_a_receiver_that_does_not_answer_in_time_is_a_failed_attempt_not_an_exception():
    import socket as socket_

    listener = socket_.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection, never answers
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/slow"
        result = send(url, SECRET, "msg_5", "{}", allowed_hosts=["127.0.0.1"], timeout_s=0.3)
        assert result.status_code is None and not result.delivered
        assert result.error == "TimeoutError" and result.latency_ms >= 250
    finally:
        listener.close()


def test_a_redirect_is_not_followed_and_counts_as_not_delivered():
    followed = []

    class Redirecting(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("content-length", 0)))
            if self.path == "/elsewhere":
                followed.append(self.path)
            self.send_response(302)
            self.send_header("location", "/elsewhere")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    with serving(Redirecting) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        result = send(url, SECRET, "msg_4", "{}", allowed_hosts=["127.0.0.1"], timeout_s=5)
    assert result.status_code == 302 and not result.delivered
    assert followed == [], "a 3xx could point at a private address: never followed"


def _tls_files(tmp_path, name: str) -> tuple[str, str, str]:
    """A throwaway CA and a certificate for `name` signed by it: (ca, cert, key) paths."""
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=tmp_path, check=True, capture_output=True)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=test CA")
    openssl("req", *ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", f"/CN={name}")
    (tmp_path / "san.ext").write_text(f"subjectAltName=DNS:{name}\n")
    openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "leaf.pem", "-days", "2", "-extfile", "san.ext")
    return str(tmp_path / "ca.pem"), str(tmp_path / "leaf.pem"), str(tmp_path / "leaf.key")


def test_a_pinned_https_post_verifies_the_certificate_against_the_urls_host_not_the_address(tmp_path):
    ca, cert, key = _tls_files(tmp_path, "hooks.example")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with serving(_PeerRecorder, tls=context) as server:
        port = server.server_address[1]
        client = SyncClient(ca_certs=ca)
        status = client.post(f"https://hooks.example:{port}/in", b"{}", {}, address="127.0.0.1", timeout_s=5)
        assert status == 204
        # The same address under another name: the certificate does not match it.
        with pytest.raises(httpx2.ConnectError, match="Hostname mismatch.*other.example"):
            client.post(f"https://other.example:{port}/in", b"{}", {}, address="127.0.0.1", timeout_s=5)
        # Without that CA (the default: certifi's bundle) the certificate is not trusted.
        with pytest.raises(httpx2.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            SyncClient().post(f"https://hooks.example:{port}/in", b"{}", {}, address="127.0.0.1",
                                        timeout_s=5)


class _Talkative(_PeerRecorder):
    """Answers 200 with a 10 MB body."""

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("content-length", 0)))
        type(self).peers.append((self.server.server_address[0], self.client_address[1]))
        body = b"x" * 10_000_000
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:  # the sender stopped reading and closed
            pass


def _posts_then_peers(handler: type[_PeerRecorder], n: int, expected_status: int) -> list[tuple[str, int]]:
    """`n` POSTs through one client to a server with `handler`: the connections they came on."""
    handler.peers = []
    with serving(handler) as server:
        client = SyncClient()
        for _ in range(n):
            url = f"http://127.0.0.1:{server.server_address[1]}/in"
            assert client.post(url, b"{}", {}, address=None, timeout_s=5) == expected_status
    return handler.peers


def test_a_receivers_long_answer_is_not_read_to_its_end_and_its_connection_is_dropped():
    first, second = _posts_then_peers(_Talkative, 2, 200)
    assert first != second, "a connection with unread answer bytes is not reused"


def test_a_short_answer_is_read_and_its_connection_kept():
    assert len(set(_posts_then_peers(_PeerRecorder, 3, 204))) == 1


class _Closing(_PeerRecorder):
    """Answers 204 on a keep-alive connection, then closes it (an idle timeout, say)."""

    closed = threading.Event()

    def do_POST(self) -> None:  # noqa: N802
        super().do_POST()
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True
        type(self).closed.set()


def test_a_kept_connection_the_receiver_closed_is_not_reused_and_the_post_still_succeeds():
    _Closing.peers = []
    with serving(_Closing) as server:
        client = SyncClient()
        url = f"http://127.0.0.1:{server.server_address[1]}/in"
        assert client.post(url, b"{}", {}, address=None, timeout_s=5) == 204
        assert _Closing.closed.wait(5)
        assert client.post(url, b"{}", {}, address=None, timeout_s=5) == 204
    first, second = _Closing.peers
    assert first != second, "the second POST came on a new connection"


def test_a_kept_connection_takes_each_posts_own_read_deadline():
    stall = threading.Event()

    class StallsOnDemand(_PeerRecorder):
        def do_POST(self) -> None:  # noqa: N802
            if stall.is_set():
                stall.wait(3)  # slower than the second POST's deadline
                time.sleep(1)
            super().do_POST()

    StallsOnDemand.peers = []
    with serving(StallsOnDemand) as server:
        client = SyncClient()
        url = f"http://127.0.0.1:{server.server_address[1]}/in"
        assert client.post(url, b"{}", {}, address=None, timeout_s=5) == 204
        stall.set()
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            client.post(url, b"{}", {}, address=None, timeout_s=0.3)
        assert time.monotonic() - started < 0.9, "the kept connection's 5 s deadline was not used"


def test_beyond_max_targets_the_least_recently_used_targets_connections_are_closed():
    _PeerRecorder.peers = []
    with serving(_PeerRecorder) as one, serving(_PeerRecorder) as two:
        client = SyncClient(max_targets=1)
        first = f"http://127.0.0.1:{one.server_address[1]}/in"
        second = f"http://127.0.0.1:{two.server_address[1]}/in"
        for url in (first, first, second, first):
            assert client.post(url, b"{}", {}, address=None, timeout_s=5) == 204
    a, b, _, c = _PeerRecorder.peers
    assert a == b, "one target's connection is kept between its POSTs"
    assert c != a, "keeping a second target closed the first target's connection"



class _TargetRecorder(_PeerRecorder):
    """Notes the request target and Host header of each POST."""

    seen: list[tuple[str, str]] = []

    def do_POST(self) -> None:  # noqa: N802
        type(self).seen.append((self.path, self.headers["host"]))
        super().do_POST()


def test_an_international_host_and_path_are_sent_in_their_ascii_forms():
    _TargetRecorder.peers, _TargetRecorder.seen = [], []
    with serving(_TargetRecorder) as server:
        port = server.server_address[1]
        client = SyncClient()
        assert client.post(f"http://例子.example:{port}/hooks/müll?to=zoë&x=%41", b"{}", {},
                           address="127.0.0.1", timeout_s=5) == 204
    assert _TargetRecorder.seen == [("/hooks/m%C3%BCll?to=zo%C3%AB&x=%41", f"xn--fsqu00a.example:{port}")]


def test_a_host_name_idna_cannot_encode_is_a_failed_attempt_not_an_exception():
    host = "ü" * 64 + ".example"  # a label longer than IDNA allows
    result = send(f"http://{host}/hook", SECRET, "msg_6", "{}", allowed_hosts=[host], timeout_s=1)
    assert result.status_code is None and not result.delivered and result.error == "InvalidURL"

"""The webhook sender connects to the address it checked, not to a later DNS answer."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from standardwebhooks.webhooks import Webhook

from promptq.receiver import WebhookReceiver
from promptq.webhook_policy import checked_address
from promptq.workers.webhooks import sender

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


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
        result = sender.post(receiver.url, SECRET, "msg_1", '{"type":"job.succeeded","data":{}}',
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
        result = sender.post(receiver.url, SECRET, "msg_2", "{}", allowed_hosts=[], timeout_s=5)
        assert not result.delivered and result.error.startswith("refused")
        assert receiver.deliveries == []
    finally:
        receiver.stop()


def test_pinned_adapter_connects_to_the_checked_address_with_the_original_host_header():
    receiver = WebhookReceiver(secret=SECRET)
    try:
        port = receiver.url.split(":")[2].split("/")[0]
        # A name that resolves nowhere: the pinned adapter never asks DNS.
        session_url = f"http://pinned.invalid:{port}/webhooks"
        s = requests.Session()
        s.mount("http://", sender.PinnedAddressAdapter("pinned.invalid", "127.0.0.1"))
        headers = sender.signed_headers(SECRET, "msg_3", "{}")
        headers["host"] = f"pinned.invalid:{port}"
        r = s.post(session_url, data=b"{}", headers=headers, timeout=5)
        assert r.status_code == 204
        assert receiver.deliveries[0].headers["host"] == f"pinned.invalid:{port}"
    finally:
        receiver.stop()


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

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        result = sender.post(url, SECRET, "msg_4", "{}", allowed_hosts=["127.0.0.1"], timeout_s=5)
        assert result.status_code == 302 and not result.delivered
        assert followed == [], "a 3xx could point at a private address: never followed"
    finally:
        server.shutdown()

"""The demo/test/benchmark webhook receiver: what it records as a delivery."""

from __future__ import annotations

import socket
import time
from datetime import datetime, timezone

import requests
from standardwebhooks.webhooks import Webhook

from promptq.receiver import WebhookReceiver

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_a_signed_delivery_is_recorded_as_verified_and_a_forged_one_is_refused():
    receiver = WebhookReceiver(secret=SECRET)
    try:
        body = '{"type": "job.succeeded", "data": {"id": "job_1"}}'
        now = datetime.now(timezone.utc)
        headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(now.timestamp())),
                   "webhook-signature": Webhook(SECRET).sign("msg_1", now, body)}
        assert requests.post(receiver.url, data=body, headers=headers, timeout=5).status_code == 204
        headers["webhook-signature"] = "v1,Zm9yZ2Vk"
        assert requests.post(receiver.url, data=body, headers=headers, timeout=5).status_code == 400
        assert [d.verified for d in receiver.deliveries] == [True, False]
        assert receiver.deliveries[0].object_id == "job_1"
    finally:
        receiver.stop()


def test_a_body_cut_short_by_a_dying_sender_is_not_a_delivery():
    receiver = WebhookReceiver(secret=SECRET)
    try:
        host, port = receiver.url.split("/")[2].split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(b"POST /webhooks HTTP/1.1\r\nHost: x\r\ncontent-length: 100\r\n\r\n" + b"{" * 40)
            sock.shutdown(socket.SHUT_WR)  # the sender dies: 40 of 100 bytes sent
            assert sock.recv(1024) == b"", "nothing is answered on a cut request"
        deadline = time.monotonic() + 5  # the server may close before it has counted
        while receiver.cut_short == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert receiver.cut_short == 1
        assert receiver.deliveries == []
    finally:
        receiver.stop()

"""A local webhook endpoint that records every delivery (demo, tests, benchmarks).

With a secret it verifies each signature the way any receiver should, with the
standardwebhooks library; `fail_first` answers 500 that many times, to exercise
the sender's retries. A request whose body ends before its content-length (the
sender died mid-POST) is not a delivery: it is counted in `cut_short`, unanswered.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class Delivery:
    headers: dict[str, str]
    body: bytes
    verified: bool | None  # None: no secret to check against
    received_at: float = 0.0  # epoch seconds

    def event(self) -> dict[str, Any]:
        return json.loads(self.body)

    @cached_property
    def _event_or_none(self) -> dict[str, Any] | None:
        """The parsed body, once (benchmarks poll thousands of deliveries); None if not JSON."""
        try:
            return self.event()
        except ValueError:
            return None

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")

    @property
    def event_type(self) -> str:
        event = self._event_or_none
        return "(unparseable)" if event is None else str(event.get("type", ""))

    @property
    def object_id(self) -> str | None:
        """The id of the job or batch the event is about."""
        return self.data.get("id")

    @property
    def data(self) -> dict[str, Any]:
        """The event's job or batch ({} when the body is not an event)."""
        return (self._event_or_none or {}).get("data") or {}


class WebhookReceiver:
    def __init__(self, secret: str | None = None, fail_first: int = 0, host: str = "127.0.0.1") -> None:
        self.secret = secret
        self.fail_first = fail_first
        self._deliveries: list[Delivery] = []
        self.cut_short = 0  # requests whose body ended early: the sender went away
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://{host}:{self._server.server_address[1]}/webhooks"
        threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True).start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a production receiver would

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                if len(body) < length:  # the connection closed mid-body: no one to answer
                    with receiver._lock:
                        receiver.cut_short += 1
                    self.close_connection = True
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = receiver._receive(headers, body)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def _receive(self, headers: dict[str, str], body: bytes) -> int:
        verified = None
        if self.secret is not None:
            try:
                Webhook(self.secret).verify(body, headers)
                verified = True
            except WebhookVerificationError:
                verified = False
        with self._lock:
            self._deliveries.append(Delivery(headers, body, verified, time.time()))
            if self.fail_first > 0:
                self.fail_first -= 1
                return 500
        return 400 if verified is False else 204

    @property
    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def for_object(self, object_id: str) -> list[Delivery]:
        """Deliveries whose `data` is the job or batch with this id."""
        return [d for d in self.deliveries if d.object_id == object_id]

    def count(self) -> int:
        return len(self._deliveries)

    def clear(self) -> None:
        with self._lock:
            self._deliveries.clear()

    def invalid_signatures(self, secret: str) -> int:
        """How many recorded deliveries do not verify with `secret` (checked now: a
        receiver without a secret records at full speed, as a benchmark needs)."""
        hook, bad = Webhook(secret), 0
        for d in self.deliveries:
            try:
                hook.verify(d.body, d.headers)
            except WebhookVerificationError:
                bad += 1
        return bad

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

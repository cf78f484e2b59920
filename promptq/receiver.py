"""A local webhook endpoint that records every delivery (demo, tests, benchmarks).

With a secret it verifies each signature the way any receiver should, with the
standardwebhooks library; `fail_first` answers 500 that many times, to exercise
the sender's retries.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class Delivery:
    headers: dict[str, str]
    body: bytes
    verified: bool | None  # None: no secret to check against

    def event(self) -> dict[str, Any]:
        return json.loads(self.body)


class WebhookReceiver:
    def __init__(self, secret: str | None = None, fail_first: int = 0, host: str = "127.0.0.1") -> None:
        self.secret = secret
        self.fail_first = fail_first
        self._deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://{host}:{self._server.server_address[1]}/webhooks"
        threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True).start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = receiver._receive(headers, body)
                self.send_response(status)
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
            self._deliveries.append(Delivery(headers, body, verified))
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
        return [d for d in self.deliveries if d.event()["data"].get("id") == object_id]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

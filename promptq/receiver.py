"""A local webhook endpoint that records every delivery (demo, tests, benchmarks).

With a secret it verifies each signature the way any receiver should, with the
standardwebhooks library; `fail_first` answers 500 that many times, to exercise
the sender's retries. A request whose body ends before its content-length (the
sender died mid-POST) is not a delivery: it is counted in `cut_short`, unanswered.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import uvicorn
import uvloop
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

LISTEN_BACKLOG = 1024  # a benchmark opens hundreds of connections at once
KEEP_ALIVE_S = 60      # an idle sender connection is kept this long, as production receivers do


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
    """Listens on `host` (a free port: `url`) from a thread of its own until `stop()`.

    uvicorn with a bare ASGI app, one event loop: a benchmark's receiver shares the
    machine with what it measures, and http.server's thread per connection (hundreds,
    one per kept-alive sender connection) parsing headers with the email package cost
    about half again as much CPU per delivery.
    """

    def __init__(self, secret: str | None = None, fail_first: int = 0, host: str = "127.0.0.1") -> None:
        self.secret = secret
        self.fail_first = fail_first
        self._deliveries: list[Delivery] = []
        self.cut_short = 0  # requests whose body ended early: the sender went away
        self._lock = threading.Lock()
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, 0))
        sock.listen(LISTEN_BACKLOG)
        self._socket = sock
        port = sock.getsockname()[1]
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{port}/webhooks"
        self._server = uvicorn.Server(uvicorn.Config(
            self._app, interface="asgi3", lifespan="off", http="httptools", log_config=None,
            access_log=False, timeout_keep_alive=KEEP_ALIVE_S, timeout_graceful_shutdown=1))
        # its own loop, not uvicorn's `run`: that may set a process-wide loop policy
        self._loop = uvloop.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_until_complete,
                                        args=(self._server.serve(sockets=[sock]),),
                                        name="webhook-receiver", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                self.stop()
                raise RuntimeError("the webhook receiver did not start")
            time.sleep(0.005)

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] != "POST":
            await _answer(send, 405)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":  # the body ended early: no one to answer
                with self._lock:
                    self.cut_short += 1
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        await _answer(send, self._receive(headers, b"".join(chunks)))

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
        self._server.should_exit = True
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()
        self._socket.close()


async def _answer(send: Any, status: int) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})

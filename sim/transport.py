"""How an answer goes over the wire: pacing, disconnect detection and broken bodies.

:class:`Reply` is a raw ASGI response holding pre-rendered body chunks, each
with the delay (seconds) to wait before sending it. It can end normally, or be
*cut*: the connection is dropped mid-body, which clients see as a transport
error (an incomplete chunked body, or fewer bytes than Content-Length).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from typing import Any

COMPLETE = "complete"
CUT = "cut"

Headers = list[tuple[bytes, bytes]]


class StreamCut(Exception):
    """Raised after a partial body so the server drops the connection."""


class _QuietCuts(logging.Filter):
    # uvicorn logs every exception escaping the app; deliberate cuts are not errors.
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, StreamCut)


def install_log_filter() -> None:
    """Keep deliberate connection cuts out of uvicorn's error log (idempotent)."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietCuts) for f in logger.filters):
        logger.addFilter(_QuietCuts())


class _DisconnectWatch:
    """Waits that end early when the client goes away."""

    def __init__(self, receive: Any) -> None:
        self._task = asyncio.ensure_future(self._wait(receive))

    @staticmethod
    async def _wait(receive: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return

    async def sleep(self, seconds: float) -> bool:
        """Sleep at least ``seconds``; False if the client disconnected meanwhile.

        The event loop's timers may fire up to a millisecond early (uvloop rounds to
        milliseconds): the remainder is slept again, so a configured latency is a floor."""
        deadline = time.monotonic() + seconds
        while not self._task.done():
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            await asyncio.wait((self._task,), timeout=left)
        return False

    def close(self) -> None:
        self._task.cancel()


class Reply:
    """An ASGI response: optional initial delay, then paced chunks, then a normal or cut ending."""

    __slots__ = ("status", "headers", "chunks", "delay_s", "ending")

    def __init__(
        self,
        status: int,
        headers: Headers,
        chunks: Sequence[tuple[float, bytes]],
        *,
        delay_s: float = 0.0,
        ending: str = COMPLETE,
    ) -> None:
        self.status = status
        self.headers = headers
        self.chunks = chunks
        self.delay_s = delay_s
        self.ending = ending

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        paced = self.delay_s > 0 or any(delay > 0 for delay, _ in self.chunks)
        if not paced:
            await self._send_at_once(send)
            return
        watch = _DisconnectWatch(receive)
        try:
            if self.delay_s > 0 and not await watch.sleep(self.delay_s):
                return
            await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
            for delay, chunk in self.chunks:
                if delay > 0 and not await watch.sleep(delay):
                    return
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if self.ending == CUT:
                raise StreamCut()
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watch.close()

    async def _send_at_once(self, send: Any) -> None:
        # The common zero-latency case: one write, no watcher task.
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        body = b"".join(chunk for _, chunk in self.chunks)
        if self.ending == CUT:
            await send({"type": "http.response.body", "body": body, "more_body": True})
            raise StreamCut()
        await send({"type": "http.response.body", "body": body, "more_body": False})


def json_headers(extra: Headers, length: int) -> Headers:
    return [(b"content-type", b"application/json"), (b"content-length", str(length).encode()), *extra]


def sse_headers(extra: Headers) -> Headers:
    return [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"), *extra]


def json_reply(status: int, body: bytes, extra: Headers, *, delay_s: float = 0.0) -> Reply:
    return Reply(status, json_headers(extra, len(body)), ((0.0, body),), delay_s=delay_s)


def cut_json_reply(status: int, body: bytes, extra: Headers, *, delay_s: float = 0.0) -> Reply:
    """Announce the full Content-Length, send half the body, drop the connection."""
    half = body[: max(1, len(body) // 2)]
    return Reply(status, json_headers(extra, len(body)), ((0.0, half),), delay_s=delay_s, ending=CUT)


def retry_headers(seconds: float) -> Headers:
    """``retry-after`` (whole seconds, rounded up) and ``retry-after-ms``."""
    return [
        (b"retry-after", str(math.ceil(seconds)).encode()),
        (b"retry-after-ms", str(round(seconds * 1000)).encode()),
    ]

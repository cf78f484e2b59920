"""A cap on request bodies, enforced before they are read.

FastAPI reads and parses a request's body before any dependency runs, so without a cap
one request could make the API hold gigabytes (measured: one 400 MB POST took the API
from 99 MB to 1.18 GB RSS). A body without a known key is refused even earlier, whatever
its size (api/key_first.py); this cap bounds what a key holder can send.
A declared Content-Length over the cap is answered at once; a body without one
(chunked) is counted as it arrives and refused when it passes the cap. (FastAPI's own
`max_body_size` answers a declared over-long body in plain text, outside the API's
error shape: tried, tests/api/test_body_limit.py fails on it.)
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from promptq.api.errors import APIError, answer_unread


class BodyLimit:
    """ASGI middleware: request bodies of at most `max_bytes` bytes."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> str:
        return f"the request body is over {self.max_bytes} bytes (PROMPTQ_MAX_REQUEST_BYTES)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await answer_unread(APIError(413, self._too_large()))(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Answered by the app's handler for HTTP errors, in the error shape.
                    raise HTTPException(413, self._too_large())
            return message

        await self.app(scope, counted, send)

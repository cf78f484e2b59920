"""A cap on how deeply a request body nests JSON, enforced while it is read.

Python's json module recurses once per level: a body of a few hundred kilobytes of
`[[[[...` reaches its recursion limit inside FastAPI's parsing, and values a few hundred
levels deep parse but outrun the serialisers later (the job row committed, its answer a
500). So the raw bytes are scanned as they arrive, counting brackets outside strings,
and a body deeper than the cap is refused (422) before it is parsed. The cap leaves room
for the request's own envelope around metadata (api/schemas.py MAX_METADATA_DEPTH).
"""

from __future__ import annotations

import re
from itertools import accumulate

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_DEPTH = 48
_NOT_STRUCTURE = bytes(set(range(256)) - set(b'"[]{}'))
_NOT_OPENING = bytes(set(range(256)) - set(b"[{"))
_STEP = [0] * 256
for _open in b"[{":
    _STEP[_open] = 1
for _close in b"]}":
    _STEP[_close] = -1
_BLOCK = 4096  # brackets followed step by step at a time: a refusal stops early


class DepthScanner:
    """The bracket depth of a JSON text fed in chunks of any size (split anywhere, even
    inside a string or an escape). Invalid JSON is left to the parser.

    Bytes methods do the work, with no Python step per character, escape or string:
    escaped backslashes and quotes are dropped (valid JSON has escapes only inside
    strings), so every quote left opens or closes a string; all but quotes and brackets
    is dropped; two adjacent quotes are dropped (an empty string, or the boundary of two
    strings: nothing outside strings lies between them); what is left splits on quotes
    into brackets outside and inside strings."""

    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth
        self.depth = 0
        self._in_string = False  # the last chunk ended inside a string
        self._escape_pending = False  # ... on a backslash: the next byte is escaped

    def feed(self, chunk: bytes) -> bool:
        """Scan the next chunk; False once the depth has gone over `max_depth`."""
        if self._escape_pending and chunk:
            chunk, self._escape_pending = chunk[1:], False
        # Left to right, as JSON pairs a run of backslashes: only a last one can be left over.
        text = chunk.replace(b"\\\\", b"")
        if text.endswith(b"\\"):
            text, self._escape_pending = text[:-1], True
        structure = text.replace(b'\\"', b"").translate(None, _NOT_STRUCTURE).replace(b'""', b"")
        pieces = structure.split(b'"')
        brackets = b"".join(pieces[1 if self._in_string else 0::2])
        self._in_string ^= len(pieces) % 2 == 0
        opens = len(brackets.translate(None, _NOT_OPENING))
        if self.depth + opens <= self.max_depth:  # cannot go over: no need to follow it
            self.depth += 2 * opens - len(brackets)
            return True
        for at in range(0, len(brackets), _BLOCK):
            running = list(accumulate(map(_STEP.__getitem__, brackets[at:at + _BLOCK]), initial=self.depth))
            self.depth = running[-1]
            if max(running) > self.max_depth:
                return False
        return True


class JsonDepthLimit:
    """ASGI middleware: a request body nesting JSON over `max_depth` levels is a 422."""

    def __init__(self, app: ASGIApp, max_depth: int = MAX_BODY_DEPTH) -> None:
        self.app = app
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scanner = DepthScanner(self.max_depth)

        async def scanned() -> Message:
            message = await receive()
            if message["type"] == "http.request" and not scanner.feed(message.get("body", b"")):
                # Raised inside the route's body read: FastAPI passes an HTTPException on,
                # and the app's handler answers it in the error shape (as api/body_limit.py).
                raise HTTPException(422, f"the request body nests JSON deeper than {self.max_depth} levels")
            return message

        await self.app(scope, scanned, send)

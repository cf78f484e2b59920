"""The API key checked before a request body is read.

FastAPI reads and parses a request's body before any dependency runs, the key check
included, so without this anyone could make the API read and parse a body of up to
PROMPTQ_MAX_REQUEST_BYTES (64 MiB, and as Python objects several times that) for each
request, only to answer 401. For a request that carries a body, this middleware answers
401 first when the key is missing, unknown or revoked, without reading the body. A known
key is remembered by its hash for a few seconds (api/auth.py KeyCache, shared with the
routes' own check, which still runs and finds it).
When the store cannot be asked, the request goes on and the routes' check answers (503):
an outage never turns into 401s.
"""

from __future__ import annotations

import logging

from anyio import to_thread
from fastapi.security.utils import get_authorization_scheme_param
from sqlmodel import Session
from starlette.types import ASGIApp, Receive, Scope, Send

from promptq.api.auth import dev_tenant, hash_key, known_tenant
from promptq.api.errors import APIError, answer_unread

log = logging.getLogger(__name__)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value (scheme in any case),
    split as the routes' HTTPBearer splits it, so that both check the same key."""
    scheme, token = get_authorization_scheme_param(authorization)
    return token if scheme.lower() == "bearer" and token else None


def _carries_body(headers: dict[bytes, bytes]) -> bool:
    length = headers.get(b"content-length")
    return b"transfer-encoding" in headers or (length is not None and length.strip() not in (b"", b"0"))


class KeyBeforeBody:
    """ASGI middleware: a request with a body and without a known API key is answered
    401 before its body is read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if _carries_body(headers):
            refusal = await self._refusal(scope, headers.get(b"authorization"))
            if refusal is not None:
                await answer_unread(refusal)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _refusal(scope: Scope, authorization: bytes | None) -> APIError | None:
        token = bearer_token(authorization.decode("latin-1") if authorization else None)
        if token is None:
            return APIError(401, "missing API key: send Authorization: Bearer <key>")
        state = scope["app"].state
        client = scope.get("client")
        if dev_tenant(state.settings, token, client[0] if client else None) is not None:
            return None
        if state.key_cache.tenant(hash_key(token)) is not None:  # the usual case: no thread, no store
            return None

        def lookup() -> str | None:
            with Session(state.engine) as session:
                return known_tenant(session, state.key_cache, token)

        try:
            tenant = await to_thread.run_sync(lookup)
        except Exception as exc:  # the store is away: the route's own check answers
            log.warning("could not check an API key before the body (%s); the route checks it", type(exc).__name__)
            return None
        return None if tenant is not None else APIError(401, "invalid API key")

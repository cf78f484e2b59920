"""The Starlette application: both provider APIs plus the control plane."""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from . import anthropic_api, control, openai_api
from .config import SimConfig
from .state import SimState
from .transport import install_log_filter


async def _unknown_route(request: Request, exc: Exception) -> Response:
    # Answer in the shape of whichever SDK is asking, so it raises its own NotFoundError.
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    message = f"Invalid URL ({request.method} {request.url.path})"
    if "anthropic-version" in request.headers:
        body = {"type": "error", "error": {"type": "not_found_error", "message": message}}
    else:
        body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}
    return Response(json.dumps(body), status_code=status, media_type="application/json")


def create_app(config: SimConfig) -> Starlette:
    """A simulator serving ``/v1/messages``, ``/v1/chat/completions`` and ``/_sim/*``.

    The live state is reachable as ``app.state.sim`` (a :class:`SimState`).
    """
    install_log_filter()
    state = SimState(config)
    app = Starlette(
        routes=[*anthropic_api.routes(state), *openai_api.routes(state), *control.routes(state)],
        exception_handlers={404: _unknown_route, 405: _unknown_route},
    )
    app.add_middleware(control.RequestLogMiddleware, state=state)
    app.state.sim = state
    return app

"""Control plane for tests and benchmarks (not part of either provider API).

- ``GET /_sim/stats``: counts of every provider request received.
- ``POST /_sim/reset``: back to the startup config; zero the counts; forget the
  script, marker counts, buckets and cache.
- ``GET|POST /_sim/config``: read, or update with a partial JSON of :class:`SimConfig` fields.
- ``POST /_sim/script`` ``{"faults": ["rate_limit", "ok", ...]}``: queue faults, one per request.
- ``GET /_sim/requests``: the request log (:class:`~promptq.sim.state.RequestLog`): per provider
  request ``received_at``/``responded_at`` (epoch seconds), ``key``, ``doc_id``; plus
  ``in_flight`` and ``max_in_flight``. Recorded only while ``request_log`` is on
  (``PROMPTQ_SIM_REQUEST_LOG=1`` or ``POST /_sim/config {"request_log": true}``).
- ``GET|POST /_sim/accuracy``: the field error rates (:mod:`promptq.sim.accuracy`). POST a
  rule ``{"model", "prompt_version", "field", "error_rate"}`` to add it (it wins over
  earlier rules as specific), or ``{"rules": [...]}`` to replace them all; either may carry
  ``"prompt_versions": {"v2": "<fingerprint>"}`` (merged). Answers ``{"rules", "prompt_versions"}``.
- ``GET /_sim/requests/bodies``: the parsed bodies of the last few logged requests, oldest
  first (``{"bodies": [{"path", "body"}]}``), for tests of what a client sent.
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .state import SimState


def _json(value: Any, status: int = 200) -> Response:
    return Response(json.dumps(value), status_code=status, media_type="application/json")


async def _read_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return value


_LOGGED_PATHS = frozenset({"/v1/messages", "/v1/chat/completions"})


class RequestLogMiddleware:
    """ASGI middleware feeding :class:`~promptq.sim.state.RequestLog`; a pass-through when off."""

    def __init__(self, app: Any, state: SimState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if (scope["type"] != "http" or not self.state.config.request_log
                or scope["path"] not in _LOGGED_PATHS or scope["method"] != "POST"):
            await self.app(scope, receive, send)
            return
        log = self.state.requests
        entry = log.opened(scope["path"])
        body: list[bytes] = []
        status: int | None = None
        responded_at: float | None = None

        async def receive_logged() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                body.append(message.get("body", b""))
            return message

        async def send_logged(message: Any) -> None:
            nonlocal status, responded_at
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                responded_at = time.time()

        try:
            await self.app(scope, receive_logged, send_logged)
        finally:
            log.closed(entry, b"".join(body), status, responded_at)


def routes(state: SimState) -> list[Route]:
    async def stats(request: Request) -> Response:
        snapshot = state.stats.snapshot()
        snapshot["scripted_faults_pending"] = state.faults.scripted
        return _json(snapshot)

    async def reset(request: Request) -> Response:
        state.reset()
        return _json({"ok": True})

    async def config(request: Request) -> Response:
        if request.method == "POST":
            try:
                state.update_config(await _read_object(request))
            except ValueError as exc:
                return _json({"error": str(exc)}, 400)
        return _json(state.config.to_dict())

    async def script(request: Request) -> Response:
        try:
            faults = (await _read_object(request)).get("faults")
            if not isinstance(faults, list) or not all(isinstance(f, str) for f in faults):
                raise ValueError('expected {"faults": [names]}')
            queued = state.faults.push_script(faults)
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
        return _json({"queued": queued})

    def accuracy_view() -> dict[str, Any]:
        config = state.config.to_dict()
        return {"rules": config["error_rates"], "prompt_versions": config["prompt_versions"]}

    async def accuracy(request: Request) -> Response:
        if request.method == "POST":
            try:
                body = await _read_object(request)
                names = body.pop("prompt_versions", None)
                if names is not None and not isinstance(names, dict):
                    raise ValueError("prompt_versions is an object of name → fingerprint")
                changes: dict[str, Any] = {}
                if names:
                    changes["prompt_versions"] = {**state.config.prompt_versions, **names}
                if "rules" in body:
                    if set(body) != {"rules"} or not isinstance(body["rules"], list):
                        raise ValueError('expected {"rules": [rules]} or one rule')
                    changes["error_rates"] = body["rules"]
                elif body:
                    changes["error_rates"] = [*state.config.error_rates, body]
                state.update_config(changes)
            except ValueError as exc:
                return _json({"error": str(exc)}, 400)
        return _json(accuracy_view())

    async def requests(request: Request) -> Response:
        return _json({"enabled": state.config.request_log, **state.requests.snapshot()})

    async def bodies(request: Request) -> Response:
        return _json({"enabled": state.config.request_log, "bodies": state.requests.recent_bodies()})

    return [
        Route("/_sim/stats", stats, methods=["GET"]),
        Route("/_sim/requests", requests, methods=["GET"]),
        Route("/_sim/requests/bodies", bodies, methods=["GET"]),
        Route("/_sim/reset", reset, methods=["POST"]),
        Route("/_sim/config", config, methods=["GET", "POST"]),
        Route("/_sim/script", script, methods=["POST"]),
        Route("/_sim/accuracy", accuracy, methods=["GET", "POST"]),
    ]

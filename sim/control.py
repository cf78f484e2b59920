"""Control plane for tests and benchmarks (not part of either provider API).

- ``GET /_sim/stats``: counts of every provider request received.
- ``POST /_sim/reset``: back to the startup config; zero the counts; forget the
  script, marker counts, buckets and cache.
- ``GET|POST /_sim/config``: read, or update with a partial JSON of :class:`SimConfig` fields.
- ``POST /_sim/script`` ``{"faults": ["rate_limit", "ok", ...]}``: queue faults, one per request.
"""

from __future__ import annotations

import json
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

    return [
        Route("/_sim/stats", stats, methods=["GET"]),
        Route("/_sim/reset", reset, methods=["POST"]),
        Route("/_sim/config", config, methods=["GET", "POST"]),
        Route("/_sim/script", script, methods=["POST"]),
    ]

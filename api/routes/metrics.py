"""Prometheus counters for operators (a token of their own: the figures span tenants)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import PlainTextResponse

from promptq import keys, metrics
from promptq.api.deps import SettingsDep
from promptq.api.errors import APIError, documented

router = APIRouter(tags=["operations"])


@router.get("/metrics", response_class=PlainTextResponse, responses=documented(401, 404, 422, 503, by_reference=True))
async def prometheus_metrics(request: Request, settings: SettingsDep,
                             authorization: Annotated[str | None, Header()] = None) -> PlainTextResponse:
    if not settings.metrics_token:
        raise APIError(404, "metrics are off: set PROMPTQ_METRICS_TOKEN")
    expected = f"Bearer {settings.metrics_token}".encode()
    # As bytes (the header's own, decoded as latin-1): compare_digest raises on a str
    # outside ASCII, which anyone could send.
    if authorization is None or not hmac.compare_digest(authorization.encode("latin-1"), expected):
        raise APIError(401, "metrics need Authorization: Bearer <PROMPTQ_METRICS_TOKEN>")
    values = await request.app.state.redis.hgetall(keys.metrics(settings.redis_prefix))
    return PlainTextResponse(metrics.render(values), media_type="text/plain; version=0.0.4")

"""Liveness and readiness, unauthenticated by design (load balancers call them); they reveal nothing."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlmodel import Session

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "the database or Redis is unreachable: "
                                                      "the same body, status not_ready"}})
async def readyz(request: Request) -> JSONResponse:
    checks: dict[str, str] = {}

    def db_ok() -> None:
        with Session(request.app.state.engine) as s:
            s.execute(text("SELECT 1"))

    try:
        await run_in_threadpool(db_ok)
        checks["database"] = "ok"
    except Exception:
        checks["database"] = "unreachable"
    try:
        await request.app.state.redis.ping()
        checks["redis"] = "ok"
    except Exception:
        checks["redis"] = "unreachable"
    ready = all(v == "ok" for v in checks.values())
    body = {"status": "ready" if ready else "not_ready", "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503)

"""Every error answers `{"error": {"type": ..., "message": ...}}`."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from promptq.safe_log import exception_summary

log = logging.getLogger(__name__)

_TYPES = {
    400: "invalid_request", 401: "authentication_error", 403: "permission_error",
    404: "not_found", 405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "invalid_request", 429: "rate_limited",
    503: "unavailable",
}


# What each error status means wherever a route documents it (OpenAPI descriptions).
_MEANINGS = {
    400: "the body could not be read (not UTF-8 text)",
    401: "missing or invalid API key", 404: "no such object for this tenant",
    409: "conflicts with the object's state or an earlier request",
    413: "too large: a request body over PROMPTQ_MAX_REQUEST_BYTES, a document over the character "
         "limit, or a batch over the document limit",
    422: "invalid request: body, path, query or header",
    429: "this tenant has PROMPTQ_MAX_EVENT_STREAMS_PER_TENANT event streams open in this API process: "
         "poll, or retry after the Retry-After seconds",
    503: "the job store or Redis cannot be reached: retry after the Retry-After seconds",
}
# What the store or Redis raise while they cannot be reached (a connection refused or
# dropped, a pool that stayed exhausted, SQLite's lock wait running out): a condition
# the client retries, not a defect.
UNAVAILABLE = (OperationalError, PoolTimeoutError, RedisConnectionError, RedisTimeoutError)
RETRY_AFTER_S = 5


class ErrorDetail(BaseModel):
    type: str  # machine-readable, e.g. "not_found", "unknown_task", "job_finished"
    message: str  # for people; never quotes a document or a secret


class ErrorResponse(BaseModel):
    """The body of every error answer."""

    error: ErrorDetail


def documented(*statuses: int, by_reference: bool = False) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for error answers, each with the error body: without them the
    schema would list only FastAPI's own 422 body (`{"detail": [...]}`), which promptq
    never sends.

    `by_reference`: for a route whose own answers are not JSON (FastAPI files a
    response model under the route's media type): the JSON body is named by reference
    to the schema the JSON routes register."""
    if by_reference:
        content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
        return {status: {"description": _MEANINGS[status], "content": content} for status in statuses}
    return {status: {"model": ErrorResponse, "description": _MEANINGS[status]} for status in statuses}


class APIError(Exception):
    def __init__(self, status: int, message: str, error_type: str | None = None) -> None:
        self.status = status
        self.message = message
        self.type = error_type or _TYPES.get(status, "error")


def error_body(error_type: str, message: str) -> dict[str, dict[str, str]]:
    """The body of an error answer (ErrorResponse, as the OpenAPI schema documents it)."""
    return ErrorResponse(error=ErrorDetail(type=error_type, message=message)).model_dump()


def _describe(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return "; ".join(parts) or "invalid request"


def answer(exc: APIError) -> JSONResponse:
    """An APIError as a response: a 401 names the scheme, a 429 or 503 when to retry."""
    headers = ({"WWW-Authenticate": "Bearer"} if exc.status == 401
               else {"Retry-After": str(RETRY_AFTER_S)} if exc.status in (429, 503) else None)
    return JSONResponse(error_body(exc.type, exc.message), status_code=exc.status, headers=headers)


def answer_unread(exc: APIError) -> JSONResponse:
    """`answer`, for a middleware answering before the request's body was read: the
    connection closes, so that the unread body is never read either."""
    response = answer(exc)
    response.headers["Connection"] = "close"
    return response


def install(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        return answer(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        # The exception's headers stay: a 405 must name the allowed methods (Allow).
        return JSONResponse(error_body(_TYPES.get(exc.status_code, "error"), str(exc.detail)),
                            status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body("invalid_request", _describe(exc)), status_code=422)

    async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
        # With the traceback, as for a 500 (statements are logged without their parameters:
        # hide_parameters): SQLite reports some defects ("no such column") as an
        # OperationalError too, and those must stay visible to whoever reads the log.
        log.warning("answering 503: %s (the job store or Redis cannot be reached)", type(exc).__name__,
                    exc_info=exc)
        return answer(APIError(503, "the job store or Redis cannot be reached; retry later"))

    for unavailable in UNAVAILABLE:
        app.add_exception_handler(unavailable, _unavailable)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Never echo the exception, to the client or to the log: it may carry document
        # text or secrets.
        log.error("unhandled %s in request:\n%s", type(exc).__name__, exception_summary(exc))
        return JSONResponse(error_body("internal_error", "an internal error occurred"), status_code=500)

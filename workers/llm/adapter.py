"""What every provider adapter offers, and the wire helpers they share."""

from __future__ import annotations

from typing import Any, Protocol

import httpx2

from promptq.workers.llm.types import CallRequest, CallResponse, OnDelta, Provider


class Adapter(Protocol):
    provider: Provider

    def call(self, req: CallRequest, on_delta: OnDelta | None = None) -> CallResponse:
        """One provider call with no retries. Raises ProviderFailure, nothing else.

        With `req.stream`, `on_delta` receives the answer's pieces as they arrive."""
        ...

    def count_tokens(self, req: CallRequest) -> int | None:
        """The provider's own count of the request's input tokens, or None where the
        provider offers no counting endpoint. Raises ProviderFailure."""
        ...


def pool_limits(connections: int) -> httpx2.Limits:
    """Connection pool limits for `connections` calls in flight. The SDKs keep at most
    100 connections alive: with more calls in flight, every call beyond that opened a
    new connection and closed it afterwards (a TCP, or TLS, handshake per call)."""
    return httpx2.Limits(max_connections=max(1000, connections), max_keepalive_connections=connections)


def provider_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The task schema minus meta keys that tool and response-format definitions do not take."""
    return {k: v for k, v in schema.items() if k not in ("$schema", "title")}


def rate_headers(headers: Any) -> dict[str, str]:
    """The response headers the rate limiter reads (neither SDK parses them)."""
    return {k.lower(): v for k, v in headers.items()
            if k.lower().startswith(("anthropic-ratelimit-", "x-ratelimit-", "retry-after"))}

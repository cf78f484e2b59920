"""What every provider adapter offers, and the wire helpers they share."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from functools import cache
from typing import Any, Generic, Protocol, TypeVar

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


C = TypeVar("C")


class PerThread(Generic[C]):
    """One SDK client per thread, made on the thread's first call.

    httpx's connection pool walks all its connections on every request and every
    release, and asks each idle one's socket whether the server closed it (a poll()
    syscall). A pool shared by a worker's 200 threads therefore costs each call
    hundreds of those at low latency, when most connections are idle (measured:
    1.9 → 3.6 ms CPU per call with 100 idle connections in the pool). A thread runs
    one call at a time, so a client of its own, keeping one connection alive, is all
    it needs: the same number of connections, and a pool walk of one.
    """

    def __init__(self, make: Callable[[], C]) -> None:
        self._make = make
        self._local = threading.local()

    def get(self) -> C:
        client: C | None = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._make()
        return client


@cache
def shared_tls() -> ssl.SSLContext:
    """The process's TLS context for every SDK client: each client would otherwise
    load the CA bundle into a context of its own (~30 ms of CPU per thread)."""
    return httpx2.create_ssl_context()


def pool_limits() -> httpx2.Limits:
    """Limits of one thread's pool: a thread makes one call at a time, so one
    connection is kept alive; the slack only serves a connection still closing."""
    return httpx2.Limits(max_connections=4, max_keepalive_connections=1)


def sdk_clients(sdk: Callable[..., C], http_client: Callable[..., httpx2.Client], *, api_key: str,
                base_url: str | None, timeout_s: float, connect_timeout_s: float) -> PerThread[C]:
    """Per-thread clients of one SDK (`sdk`: its client class, `http_client`: its
    DefaultHttpxClient), deadlines in seconds. Retries are off: they belong to the
    queue, where they are visible, bounded and billed."""
    return PerThread(lambda: sdk(
        api_key=api_key, base_url=base_url, max_retries=0,
        timeout=httpx2.Timeout(timeout_s, connect=connect_timeout_s),
        http_client=http_client(limits=pool_limits(), verify=shared_tls()),
    ))


def provider_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The task schema minus meta keys that tool and response-format definitions do not take."""
    return {k: v for k, v in schema.items() if k not in ("$schema", "title")}


def rate_headers(headers: Any) -> dict[str, str]:
    """The response headers the rate limiter reads (neither SDK parses them)."""
    return {k.lower(): v for k, v in headers.items()
            if k.lower().startswith(("anthropic-ratelimit-", "x-ratelimit-", "retry-after"))}

"""One signed POST of a webhook delivery (Standard Webhooks: webhook-id/-timestamp/-signature),
made on an event loop with httpx2 under one wall-clock deadline."""

from __future__ import annotations

import asyncio
import ssl
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from time import perf_counter

import certifi
import httpx2
from standardwebhooks.webhooks import Webhook

from promptq.webhook_policy import RESOLVE_TIMEOUT_S, UnsafeWebhookURL, checked_address_async

USER_AGENT = "promptq-webhooks/1"
CONNECT_TIMEOUT_S = 5.0  # at most; a shorter attempt deadline shortens it too
# A receiver's answer is read up to this many bytes (its body means nothing to us);
# a longer one costs the connection, not the worker's memory. Its headers are capped by
# httpcore's h11 buffer (100 KiB without a complete header block: RemoteProtocolError).
ANSWER_BYTES_READ = 64 * 1024
KEEPALIVE_S = 30.0  # an idle connection is closed after this long


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    error: str | None
    latency_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def signed_headers(secrets: str | Sequence[str], msg_id: str, body: str,
                   when: datetime | None = None) -> dict[str, str]:
    """Standard Webhooks headers; with several secrets (a rotation's new and previous)
    one signature for each, space-separated, so a receiver verifies with either."""
    when = when or datetime.now(UTC)
    secrets = [secrets] if isinstance(secrets, str) else secrets
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": " ".join(Webhook(secret).sign(msg_id, when, body) for secret in secrets),
    }


@dataclass
class _Pool:
    transport: httpx2.AsyncHTTPTransport
    in_use: int = 0


class WebhookClient:
    """Keep-alive connections for webhook POSTs, on one event loop (not thread-safe).

    httpx2's transport (httpcore), one connection pool per (scheme, URL host, port):
    a pool connects to the address the URL policy checked (the URL's host replaced by
    it, the Host header and TLS SNI/verification keeping the name), so a connection
    is reused only for the same checked address AND the same name, never carrying a
    POST for a name its certificate was not verified against. TLS verifies against
    certifi's CA bundle. No proxy from the environment (transports never read it: a
    proxy would resolve the name itself) and no redirects (a 3xx could point at a
    private address): transports follow none. Pools of the `max_targets` targets used
    last are kept, idle ones beyond it closed.
    """

    def __init__(self, *, connections_per_target: int = 10, max_targets: int = 100,
                 ca_certs: str | None = None) -> None:
        self._tls = ssl.create_default_context(cafile=ca_certs or certifi.where())
        self._limits = httpx2.Limits(max_connections=None, max_keepalive_connections=connections_per_target,
                                     keepalive_expiry=KEEPALIVE_S)
        self._max_targets = max_targets
        self._pools: OrderedDict[tuple[str, str, int], _Pool] = OrderedDict()

    async def post(self, url: str, body: bytes, headers: dict[str, str], *, address: str | None,
                   timeout_s: float) -> int:
        """POST `body` to `url`, connecting to `address` when given (else to the URL's
        host); the HTTP status. Everything (connect, TLS, send, answer headers and up to
        ANSWER_BYTES_READ of its body) within `timeout_s` of wall-clock time, else
        TimeoutError. Raises httpx2's TransportError (connection, TLS, protocol errors)
        and InvalidURL (a host name IDNA cannot encode)."""
        parsed = httpx2.URL(url)
        name = parsed.raw_host.decode("ascii")  # IDNA form
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        request = httpx2.Request(
            "POST", parsed.copy_with(host=address) if address else parsed, content=body,
            headers={**headers, "host": parsed.netloc.decode("ascii")},
            extensions={"sni_hostname": name,
                        "timeout": {"connect": min(CONNECT_TIMEOUT_S, timeout_s), "read": None,
                                    "write": None, "pool": None}})
        key = (parsed.scheme, name, port)
        pool = await self._acquire(key)
        try:
            async with asyncio.timeout(timeout_s):
                response = await pool.transport.handle_async_request(request)
                try:
                    read = 0
                    async for chunk in response.aiter_raw():
                        read += len(chunk)
                        if read > ANSWER_BYTES_READ:
                            break  # closing an answer not read to its end drops its connection
                finally:
                    await response.aclose()
        finally:
            pool.in_use -= 1
        return response.status_code

    async def _acquire(self, key: tuple[str, str, int]) -> _Pool:
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = _Pool(httpx2.AsyncHTTPTransport(
                verify=self._tls, trust_env=False, limits=self._limits))
        self._pools.move_to_end(key)
        pool.in_use += 1
        idle = [k for k, p in self._pools.items() if p.in_use == 0]
        for old in idle[:max(0, len(self._pools) - self._max_targets)]:  # least recently used first
            await self._pools.pop(old).transport.aclose()
        return pool

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), OrderedDict()
        for pool in pools:
            await pool.transport.aclose()


async def post(url: str, secrets: str | Sequence[str], msg_id: str, body: str, *, allowed_hosts: list[str],
               timeout_s: float, client: WebhookClient) -> AttemptResult:
    """Check the target, sign, POST once, all within `timeout_s` (DNS at most
    RESOLVE_TIMEOUT_S of it); never raises for the receiver's faults (they are the
    attempt's result). Allowed hosts are connected to as DNS says; any other host only
    at the public address that was checked."""
    started = perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            _, address = await checked_address_async(url, allowed_hosts,
                                                     timeout_s=min(RESOLVE_TIMEOUT_S, timeout_s))
            status = await client.post(url, body.encode(), signed_headers(secrets, msg_id, body),
                                       address=address, timeout_s=timeout_s)
        return AttemptResult(status, None if 200 <= status < 300 else f"HTTP {status}",
                             int((perf_counter() - started) * 1000))
    except UnsafeWebhookURL as exc:
        return AttemptResult(None, f"refused: {exc}", int((perf_counter() - started) * 1000))
    except (httpx2.HTTPError, httpx2.InvalidURL, OSError, UnicodeError) as exc:  # TimeoutError is an OSError
        return AttemptResult(None, type(exc).__name__, int((perf_counter() - started) * 1000))

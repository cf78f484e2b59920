"""One signed POST of a webhook delivery (Standard Webhooks: webhook-id/-timestamp/-signature)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from time import perf_counter
from urllib.parse import urlsplit

import certifi
import urllib3
from standardwebhooks.webhooks import Webhook

from promptq.webhook_policy import UnsafeWebhookURL, checked_address

USER_AGENT = "promptq-webhooks/1"
CONNECT_TIMEOUT_S = 5.0  # at most; a shorter attempt deadline shortens it too
# A receiver's answer is read up to this many bytes (its body means nothing to us);
# a longer one costs the connection, not the worker's memory.
ANSWER_BYTES_READ = 64 * 1024


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    error: str | None
    latency_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def signed_headers(secret: str, msg_id: str, body: str, when: datetime | None = None) -> dict[str, str]:
    when = when or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, when, body)
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": signature,
    }


class WebhookClient:
    """Keep-alive connections for webhook POSTs, pooled per target; thread-safe.

    A pool's key is the address the URL policy checked (with the host name for TLS),
    so a kept connection is reused only for that same checked address: pooling never
    skips the DNS-rebinding check. TLS verifies the certificate against the URL's
    host name, with certifi's CA bundle (as requests does). No proxy from the
    environment: a proxy would resolve the name itself. urllib3 directly, not requests:
    a POST costs about half the CPU (~180 against ~350 µs on the bench machine).
    """

    def __init__(self, *, connections_per_target: int = 10, max_targets: int = 100,
                 ca_certs: str | None = None) -> None:
        # block=False: a burst beyond `connections_per_target` opens extra connections
        # instead of waiting; they are closed after use.
        self._pools = urllib3.PoolManager(num_pools=max_targets, maxsize=connections_per_target, block=False,
                                          retries=False, cert_reqs="CERT_REQUIRED",
                                          ca_certs=ca_certs or certifi.where())

    def post(self, url: str, body: bytes, headers: dict[str, str], *, address: str | None,
             timeout_s: float) -> int:
        """POST `body` to `url`, connecting to `address` when given (else to the URL's
        host); the HTTP status. Raises urllib3's HTTPError (or OSError) on network errors.
        Redirects are not followed: a 3xx could point at a private address."""
        parts = urlsplit(url)
        scheme, host = parts.scheme, parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        if address is None:
            pool = self._pools.connection_from_host(host, port, scheme)
        else:
            tls = {"server_hostname": host, "assert_hostname": host} if scheme == "https" else {}
            pool = self._pools.connection_from_host(address, port, scheme, pool_kwargs=tls)
            headers = {**headers, "host": parts.netloc.rsplit("@", 1)[-1]}
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        response = pool.urlopen(
            "POST", target, body=body, headers=headers, redirect=False, retries=False,
            assert_same_host=False, preload_content=False,
            timeout=urllib3.Timeout(connect=min(CONNECT_TIMEOUT_S, timeout_s), read=timeout_s))
        try:
            if len(response.read(ANSWER_BYTES_READ + 1, decode_content=False)) > ANSWER_BYTES_READ:
                response.close()  # not read to its end: the connection cannot be reused
        finally:
            response.release_conn()
        return response.status


def post(url: str, secret: str, msg_id: str, body: str, *, allowed_hosts: list[str],
         timeout_s: float, client: WebhookClient) -> AttemptResult:
    """Check the target, sign, POST once; never raises for the receiver's faults (they
    are the attempt's result). Allowed hosts are connected to as DNS says; any other
    host only at the public address that was checked."""
    started = perf_counter()
    try:
        _, address = checked_address(url, allowed_hosts)
        status = client.post(url, body.encode(), signed_headers(secret, msg_id, body),
                             address=address, timeout_s=timeout_s)
        return AttemptResult(status, None if 200 <= status < 300 else f"HTTP {status}",
                             int((perf_counter() - started) * 1000))
    except UnsafeWebhookURL as exc:
        return AttemptResult(None, f"refused: {exc}", 0)
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        return AttemptResult(None, type(exc).__name__, int((perf_counter() - started) * 1000))

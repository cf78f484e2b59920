"""One signed POST of a webhook delivery (Standard Webhooks: webhook-id/-timestamp/-signature)."""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from time import perf_counter
from urllib.parse import quote, urlsplit

import certifi
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
    """Keep-alive connections for webhook POSTs, kept per target; thread-safe.

    A connection is kept under the address the URL policy checked (with the host name
    for TLS), so it is reused only for that same checked address: keeping connections
    never skips the DNS-rebinding check. TLS verifies the certificate against the URL's
    host name, with certifi's CA bundle (as requests does). No proxy from the
    environment: a proxy would resolve the name itself. No redirects: a 3xx could point
    at a private address.

    The standard library's http.client, not urllib3 (nor requests): a POST costs about
    half the CPU (127–147 against 213–251 µs, one thread to a local receiver, 2026-12-06,
    AMD EPYC; requests ~350). What urllib3 added and a webhook needs is here:
    connections kept per target (idle ones up to `connections_per_target` per target,
    for the `max_targets` targets used last), a kept connection the receiver has closed
    meanwhile dropped before reuse, separate connect and read deadlines.
    """

    def __init__(self, *, connections_per_target: int = 10, max_targets: int = 100,
                 ca_certs: str | None = None) -> None:
        self._tls = ssl.create_default_context(cafile=ca_certs or certifi.where())
        self._per_target = connections_per_target
        self._max_targets = max_targets
        # idle connections by target, least recently used target first; beyond
        # `connections_per_target` (a burst) a connection is closed after use
        self._idle: OrderedDict[_Target, list[_Connection]] = OrderedDict()
        self._lock = threading.Lock()

    def post(self, url: str, body: bytes, headers: dict[str, str], *, address: str | None,
             timeout_s: float) -> int:
        """POST `body` to `url`, connecting to `address` when given (else to the URL's
        host); the HTTP status. Raises http.client's HTTPException or OSError (timeouts,
        TLS and connection errors) on network errors, UnicodeError for a host name IDNA
        cannot encode. A connection is given at most `timeout_s` seconds per read (and
        at most CONNECT_TIMEOUT_S to connect). A path and query outside ASCII are sent
        percent-encoded, an international host name in its IDNA form."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        target = _Target(parts.scheme, address or host, parts.port or (443 if parts.scheme == "https" else 80),
                         host)
        path = quote(parts.path or "/", safe=_PATH_SAFE) + (f"?{quote(parts.query, safe=_QUERY_SAFE)}"
                                                             if parts.query else "")
        headers = {**headers, "host": _host_header(host, parts.port)}
        conn = self._kept(target) or self._connect(target, timeout_s)
        try:
            if conn.timeout != timeout_s:  # a socket option: set only when it changes
                conn.timeout = timeout_s
                conn.sock.settimeout(timeout_s)
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            read = response.read(ANSWER_BYTES_READ + 1)
        except BaseException:
            conn.close()
            raise
        if len(read) <= ANSWER_BYTES_READ and response.isclosed() and not response.will_close:
            self._keep(target, conn)
        else:  # not read to its end, or the receiver ends it: it cannot be reused
            conn.close()
        return response.status

    def _kept(self, target: _Target) -> _Connection | None:
        """An idle connection to `target` the receiver has not closed meanwhile."""
        while True:
            with self._lock:
                idle = self._idle.get(target)
                if not idle:
                    return None
                conn = idle.pop()
                self._idle.move_to_end(target)
            if conn.sock is not None and not _readable(conn.sock):
                return conn
            conn.close()  # closed by the receiver (or it sent what nobody asked for)

    def _keep(self, target: _Target, conn: _Connection) -> None:
        closing: list[_Connection] = []
        with self._lock:
            idle = self._idle.setdefault(target, [])
            self._idle.move_to_end(target)
            (idle if len(idle) < self._per_target else closing).append(conn)
            while len(self._idle) > self._max_targets:  # the least recently used target's
                closing += self._idle.popitem(last=False)[1]
        for extra in closing:
            extra.close()

    def _connect(self, target: _Target, timeout_s: float) -> _Connection:
        connect_s = min(CONNECT_TIMEOUT_S, timeout_s)
        if target.scheme == "https":
            conn: _Connection = _HTTPSConnection(target.address, target.port, timeout=connect_s,
                                                 context=self._tls, server_hostname=target.host)
        else:
            conn = http.client.HTTPConnection(target.address, target.port, timeout=connect_s)
        try:
            conn.connect()
        except BaseException:
            conn.close()  # a TLS handshake that failed leaves the TCP connection open
            raise
        return conn


@dataclass(frozen=True)
class _Target:
    scheme: str
    address: str  # what is connected to: the checked address, or the host as DNS says
    port: int
    host: str     # the URL's host name: what TLS verifies


class _HTTPSConnection(http.client.HTTPSConnection):
    """TLS to `host` (an address) verified against `server_hostname` (the URL's host)."""

    def __init__(self, host: str, port: int, *, timeout: float, context: ssl.SSLContext,
                 server_hostname: str) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._server_hostname = server_hostname

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self._server_hostname)


_Connection = http.client.HTTPConnection
# what may stand unescaped in a path or a query (RFC 3986; "%": already escaped)
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


def _host_header(host: str, port: int | None) -> str:
    """The Host header of a URL's host: ASCII (an international name in its IDNA form,
    as DNS knows it), an IPv6 address in brackets. Raises UnicodeError for a name IDNA
    cannot encode."""
    if not host.isascii():
        host = host.encode("idna").decode("ascii")
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}" if port else host


def _readable(sock: socket.socket) -> bool:
    """Whether an idle kept connection has something to read: the receiver closed it
    (or sent what was not asked for); either way it is not reused."""
    poller = select.poll()  # not select.select: a busy worker's descriptors pass 1024
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


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
    except (http.client.HTTPException, OSError, UnicodeError) as exc:
        return AttemptResult(None, type(exc).__name__, int((perf_counter() - started) * 1000))

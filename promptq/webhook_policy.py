"""Where webhooks may go: http(s) to public addresses only, unless a host is allowed.

Shared by the API (refuse a bad URL at submit time, as a 4xx) and the webhook
sender (check again at send time: DNS answers change). Host names are resolved on a
small pool of threads with a deadline: a resolver that hangs costs a caller at most
`timeout_s` and at most `RESOLVER_THREADS` threads, never the API's request threads.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from urllib.parse import urlsplit

# Cloud metadata endpoints beyond the link-local range (AWS IPv6, Alibaba).
_METADATA = {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}
RESOLVE_TIMEOUT_S = 2.0  # a webhook host that takes longer to resolve is refused (submit) or failed (send)
RESOLVER_THREADS = 8  # threads a hung resolver can hold, at most, per process
_resolver = ThreadPoolExecutor(RESOLVER_THREADS, thread_name_prefix="promptq-resolve")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeWebhookURL(ValueError):
    pass


def is_public_address(ip: Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved
                or ip.is_multicast or ip.is_unspecified or ip in _METADATA
                or ip in ipaddress.ip_network("100.64.0.0/10"))  # carrier-grade NAT


def check_url(url: str, allowed_hosts: Iterable[str], *, resolve: bool = True,
              timeout_s: float = RESOLVE_TIMEOUT_S) -> str:
    """Return the URL's host if a webhook may target it; raise UnsafeWebhookURL otherwise."""
    return checked_address(url, allowed_hosts, resolve=resolve, timeout_s=timeout_s)[0]


@dataclass(frozen=True)
class _Target:
    host: str
    port: int
    literal: Address | None  # the host is an IP address
    allowed: bool  # listed in PROMPTQ_WEBHOOK_ALLOWED_HOSTS


def _target(url: str, allowed_hosts: Iterable[str]) -> _Target:
    try:
        parts = urlsplit(url)
    except ValueError:  # urllib's refusal of a malformed [IPv6] host
        raise UnsafeWebhookURL("webhook_url has an invalid host or port") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeWebhookURL("webhook_url must be an http or https URL")
    host = parts.hostname
    if not host:
        raise UnsafeWebhookURL("webhook_url has no host")
    if parts.username or parts.password:
        raise UnsafeWebhookURL("webhook_url must not carry credentials")
    try:
        explicit = parts.port
    except ValueError:  # a port outside 0-65535, or not a number
        raise UnsafeWebhookURL("webhook_url has an invalid host or port") from None
    if explicit == 0:
        raise UnsafeWebhookURL("webhook_url has port 0")
    port = explicit or (443 if parts.scheme == "https" else 80)
    try:
        literal: Address | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    return _Target(host, port, literal, host.lower() in {h.lower() for h in allowed_hosts})


def _checked(host: str, addresses: list[Address]) -> str:
    for ip in addresses:
        if not is_public_address(ip):
            raise UnsafeWebhookURL(
                f"webhook host {host!r} is a private, loopback, link-local or metadata address; "
                "list it in PROMPTQ_WEBHOOK_ALLOWED_HOSTS to allow it")
    return str(addresses[0])


def _getaddrinfo(host: str, port: int) -> list[Address]:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise UnsafeWebhookURL(f"webhook host {host!r} does not resolve") from None
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def _too_slow(host: str, timeout_s: float) -> UnsafeWebhookURL:
    return UnsafeWebhookURL(f"webhook host {host!r} did not resolve within {timeout_s:g} s")


def checked_address(url: str, allowed_hosts: Iterable[str], *, resolve: bool = True,
                    timeout_s: float = RESOLVE_TIMEOUT_S) -> tuple[str, str | None]:
    """(host, address to connect to): every address the host resolves to is checked,
    and the sender connects to the checked one, so a DNS answer that changes between
    the check and the connection (rebinding) cannot reach a private address.
    The address is None for an allowed host (connect as usual) or when not resolving.
    Resolution longer than `timeout_s` raises UnsafeWebhookURL."""
    target = _target(url, allowed_hosts)
    if target.allowed:
        return target.host, None
    if target.literal is not None:
        return target.host, _checked(target.host, [target.literal])
    if not resolve:
        return target.host, None
    future = _resolver.submit(_getaddrinfo, target.host, target.port)
    try:
        addresses = future.result(timeout=timeout_s)
    except FutureTimeout:
        future.cancel()  # still queued behind hung resolutions: never started
        raise _too_slow(target.host, timeout_s) from None
    return target.host, _checked(target.host, addresses)


async def checked_address_async(url: str, allowed_hosts: Iterable[str], *,
                                timeout_s: float = RESOLVE_TIMEOUT_S) -> tuple[str, str | None]:
    """checked_address for an event loop: the loop never waits on the resolver."""
    target = _target(url, allowed_hosts)
    if target.allowed:
        return target.host, None
    if target.literal is not None:
        return target.host, _checked(target.host, [target.literal])
    future = _resolver.submit(_getaddrinfo, target.host, target.port)
    try:
        async with asyncio.timeout(timeout_s):
            addresses = await asyncio.wrap_future(future)
    except TimeoutError:
        future.cancel()
        raise _too_slow(target.host, timeout_s) from None
    return target.host, _checked(target.host, addresses)

"""Where webhooks may go: http(s) to public addresses only, unless a host is allowed.

Shared by the API (refuse a bad URL at submit time, as a 4xx) and the webhook
sender (check again at send time: DNS answers change).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

# Cloud metadata endpoints beyond the link-local range (AWS IPv6, Alibaba).
_METADATA = {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}


class UnsafeWebhookURL(ValueError):
    pass


def is_public_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved
                or ip.is_multicast or ip.is_unspecified or ip in _METADATA
                or ip in ipaddress.ip_network("100.64.0.0/10"))  # carrier-grade NAT


def check_url(url: str, allowed_hosts: Iterable[str], *, resolve: bool = True) -> str:
    """Return the URL's host if a webhook may target it; raise UnsafeWebhookURL otherwise."""
    return checked_address(url, allowed_hosts, resolve=resolve)[0]


def checked_address(url: str, allowed_hosts: Iterable[str], *, resolve: bool = True) -> tuple[str, str | None]:
    """(host, address to connect to): every address the host resolves to is checked,
    and the sender connects to the checked one, so a DNS answer that changes between
    the check and the connection (rebinding) cannot reach a private address.
    The address is None for an allowed host (connect as usual) or when not resolving."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # urllib's refusal of a malformed [IPv6] host or a port outside 0-65535
        raise UnsafeWebhookURL("webhook_url has an invalid host or port") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeWebhookURL("webhook_url must be an http or https URL")
    if port == 0:
        raise UnsafeWebhookURL("webhook_url has port 0")
    host = parts.hostname
    if not host:
        raise UnsafeWebhookURL("webhook_url has no host")
    if parts.username or parts.password:
        raise UnsafeWebhookURL("webhook_url must not carry credentials")
    allowed = {h.lower() for h in allowed_hosts}
    if host.lower() in allowed:
        return host, None
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    elif not resolve:
        return host, None
    else:
        try:
            infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError):
            raise UnsafeWebhookURL(f"webhook host {host!r} does not resolve") from None
        addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    for ip in addresses:
        if not is_public_address(ip):
            raise UnsafeWebhookURL(
                f"webhook host {host!r} is a private, loopback, link-local or metadata address; "
                "list it in PROMPTQ_WEBHOOK_ALLOWED_HOSTS to allow it")
    return host, str(addresses[0])

"""One signed POST of a webhook delivery (Standard Webhooks: webhook-id/-timestamp/-signature)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from time import perf_counter
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from standardwebhooks.webhooks import Webhook

from promptq.webhook_policy import UnsafeWebhookURL, checked_address

USER_AGENT = "promptq-webhooks/1"


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


class PinnedAddressAdapter(HTTPAdapter):
    """Connects to the address the URL policy checked, not to whatever DNS answers
    next; TLS still verifies the certificate against the host name."""

    def __init__(self, host: str, address: str) -> None:
        self._host, self._address = host, address
        super().__init__(max_retries=0)

    def build_connection_pool_key_attributes(self, request: Any, verify: Any, cert: Any = None,
                                             ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        if host_params["host"] == self._host:
            host_params["host"] = self._address
            if host_params["scheme"] == "https":
                pool_kwargs["server_hostname"] = self._host
                pool_kwargs["assert_hostname"] = self._host
        return host_params, pool_kwargs


def post(url: str, secret: str, msg_id: str, body: str, *, allowed_hosts: list[str],
         timeout_s: float, session: requests.Session | None = None) -> AttemptResult:
    """POST once; never raises for the receiver's faults (they are the attempt's result).

    `session` serves allowed hosts (pooled connections); any other host gets a
    connection pinned to the address that was checked.
    """
    started = perf_counter()
    try:
        host, address = checked_address(url, allowed_hosts)
        headers = signed_headers(secret, msg_id, body)
        client: requests.Session | Any = session or requests
        if address is not None:
            client = requests.Session()
            client.trust_env = False  # as the shared session (workers/runtime.py)
            client.mount(url.split("://", 1)[0] + "://", PinnedAddressAdapter(host, address))
            headers["host"] = urlsplit(url).netloc.rsplit("@", 1)[-1]
        # Redirects are not followed: a 3xx could point at a private address.
        response = client.post(url, data=body.encode(), headers=headers,
                               timeout=(min(5.0, timeout_s), timeout_s), allow_redirects=False)
        return AttemptResult(response.status_code, None if response.ok else f"HTTP {response.status_code}",
                             int((perf_counter() - started) * 1000))
    except UnsafeWebhookURL as exc:
        return AttemptResult(None, f"refused: {exc}", 0)
    except requests.RequestException as exc:
        return AttemptResult(None, type(exc).__name__, int((perf_counter() - started) * 1000))

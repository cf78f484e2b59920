"""One signed POST of a webhook delivery (Standard Webhooks: webhook-id/-timestamp/-signature)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from time import perf_counter

import requests
from standardwebhooks.webhooks import Webhook

from promptq.webhook_policy import UnsafeWebhookURL, check_url

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


def post(url: str, secret: str, msg_id: str, body: str, *, allowed_hosts: list[str],
         timeout_s: float, session: requests.Session | None = None) -> AttemptResult:
    """POST once; never raises for the receiver's faults (they are the attempt's result)."""
    started = perf_counter()
    try:
        check_url(url, allowed_hosts)
        # Redirects are not followed: a 3xx could point at a private address.
        response = (session or requests).post(url, data=body.encode(),
                                              headers=signed_headers(secret, msg_id, body),
                                              timeout=(min(5.0, timeout_s), timeout_s),
                                              allow_redirects=False)
        return AttemptResult(response.status_code, None if response.ok else f"HTTP {response.status_code}",
                             int((perf_counter() - started) * 1000))
    except UnsafeWebhookURL as exc:
        return AttemptResult(None, f"refused: {exc}", 0)
    except requests.RequestException as exc:
        return AttemptResult(None, type(exc).__name__, int((perf_counter() - started) * 1000))

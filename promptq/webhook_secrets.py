"""Which secrets sign a tenant's webhooks: after a rotation the previous one too, for a
while, so that a receiver switches to the new secret without losing an event."""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime, timedelta

ROTATION_OVERLAP = timedelta(hours=24)  # the previous secret still signs this long after a rotation


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: `whsec_` + base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def signing_secrets(current: str, previous: str | None, rotated_at: datetime | None,
                    now: datetime) -> list[str]:
    """The secrets a delivery made at `now` is signed with, the current one first."""
    if previous is None or rotated_at is None:
        return [current]
    if rotated_at.tzinfo is None:  # SQLite gives naive UTC datetimes back
        rotated_at = rotated_at.replace(tzinfo=UTC)
    return [current, previous] if now < rotated_at + ROTATION_OVERLAP else [current]

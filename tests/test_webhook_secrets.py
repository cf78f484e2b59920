"""After a rotation deliveries are signed with the new and the previous secret for 24 h."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from promptq.webhook_secrets import ROTATION_OVERLAP, new_webhook_secret, signing_secrets
from promptq.workers.webhooks.sender import signed_headers

ROTATED = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("previous", "rotated_at", "now", "expected"), [
    (None, None, ROTATED, ["new"]),  # never rotated
    ("old", ROTATED, ROTATED, ["new", "old"]),
    ("old", ROTATED, ROTATED + ROTATION_OVERLAP - timedelta(seconds=1), ["new", "old"]),
    ("old", ROTATED, ROTATED + ROTATION_OVERLAP, ["new"]),
    ("old", ROTATED, ROTATED + timedelta(days=30), ["new"]),
    ("old", ROTATED.replace(tzinfo=None), ROTATED + timedelta(hours=1), ["new", "old"]),  # SQLite's naive UTC
])
def test_signing_secrets(previous, rotated_at, now, expected):
    assert signing_secrets("new", previous, rotated_at, now) == expected


def test_the_overlap_is_24_hours():
    assert ROTATION_OVERLAP == timedelta(hours=24)


def test_a_delivery_signed_with_both_secrets_verifies_with_either_and_only_with_them():
    new, old, other = new_webhook_secret(), new_webhook_secret(), new_webhook_secret()
    body = '{"type":"job.succeeded","data":{}}'
    both = signed_headers(signing_secrets(new, old, ROTATED, ROTATED + timedelta(hours=23)), "msg_r", body)
    assert len(both["webhook-signature"].split(" ")) == 2
    for secret in (new, old):
        Webhook(secret).verify(body, both)
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(body, both)
    after = signed_headers(signing_secrets(new, old, ROTATED, ROTATED + ROTATION_OVERLAP), "msg_r", body)
    Webhook(new).verify(body, after)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(body, after)

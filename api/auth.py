"""API keys of requests: checked against the store's hashes, remembered briefly per process.

PROMPTQ_API_KEYS is the whole truth at start (bootstrap); `promptq keys` adds and revokes
keys at any time. A process remembers a key it checked for PROMPTQ_API_KEY_CACHE_S
seconds, so a revoked key stops working within that time, at one store read per key per
period instead of one per request. The development key is never stored.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from promptq.settings import DEV_API_KEY, DEV_TENANT, Settings
from promptq.store import api_keys
from promptq.store.api_keys import hash_key
from promptq.store.models import utcnow

log = logging.getLogger(__name__)

# last_used_at is written when the stored value is older than this: not once per request.
LAST_USED_EVERY = timedelta(seconds=60)


def bootstrap(engine: Engine, settings: Settings) -> None:
    """Make the keys of PROMPTQ_API_KEYS exist and revoke the env keys no longer listed
    (idempotent, safe to race)."""
    listed: set[str] = set()
    for key, tenant in settings.tenant_keys().items():
        row = api_keys.ensure_env_key(engine, tenant, key)
        if row is None:
            log.error("a key of tenant %r in PROMPTQ_API_KEYS belongs to another tenant: ignored", tenant)
            continue
        listed.add(row.key_hash)
        if row.revoked_at is not None:
            log.warning("key %s of tenant %r in PROMPTQ_API_KEYS was revoked: it stays refused", row.id, tenant)
    revoked = api_keys.revoke_unlisted_env_keys(engine, listed)
    if revoked:
        log.warning("revoked %d API key(s) no longer in PROMPTQ_API_KEYS", revoked)
    if settings.dev_key_enabled:
        api_keys.ensure_tenant(engine, DEV_TENANT)
        log.warning("PROMPTQ_API_KEYS is not set: development key for tenant %r (loopback clients "
                    "only) is %s", DEV_TENANT, DEV_API_KEY)


@dataclass
class _Known:
    tenant: str
    checked_at: float  # time.monotonic() of the store read


class KeyCache:
    """Keys this process found in the store, by hash (never in plain text), each trusted
    for `ttl_s` seconds after the read."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._known: dict[str, _Known] = {}

    def tenant(self, key_hash: str, now: float | None = None) -> str | None:
        known = self._known.get(key_hash)
        if known is None:
            return None
        if (time.monotonic() if now is None else now) - known.checked_at >= self.ttl_s:
            return None
        return known.tenant

    def remember(self, key_hash: str, tenant: str) -> None:
        self._known[key_hash] = _Known(tenant, time.monotonic())

    def forget(self, key_hash: str) -> None:
        self._known.pop(key_hash, None)


def last_used_is_stale(last_used: datetime | None, now: datetime) -> bool:
    if last_used is None:
        return True
    if last_used.tzinfo is None:  # SQLite returns naive datetimes (written as UTC)
        last_used = last_used.replace(tzinfo=UTC)
    return now - last_used >= LAST_USED_EVERY


def known_tenant(session: Session, cache: KeyCache, key: str) -> str | None:
    """The tenant of the stored, unrevoked API key `key`, or None. Raises what the store
    raises when it must be asked."""
    key_hash = hash_key(key)
    tenant = cache.tenant(key_hash)
    if tenant is not None:
        return tenant
    found = api_keys.live_key(session, key_hash)
    if found is None:
        cache.forget(key_hash)
        return None
    tenant, last_used = found
    now = utcnow()
    if last_used_is_stale(last_used, now):
        try:
            api_keys.mark_used(session.get_bind(), key_hash, now)  # type: ignore[arg-type]
        except SQLAlchemyError as exc:  # bookkeeping only: the key is still good
            log.warning("could not record the use of an API key (%s)", type(exc).__name__)
    cache.remember(key_hash, tenant)
    return tenant


def is_loopback(host: str | None) -> bool:
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def dev_tenant(settings: Settings, key: str, client_host: str | None) -> str | None:
    """DEV_TENANT for the development key, in development without configured keys, from a
    loopback client; otherwise None."""
    if (settings.dev_key_enabled and is_loopback(client_host)
            and secrets.compare_digest(key.encode(), DEV_API_KEY.encode())):
        return DEV_TENANT
    return None

"""API keys in the store: created, listed, revoked, and kept in step with PROMPTQ_API_KEYS.

Keys are stored as SHA-256 hashes only; a key is named by its public id (`key_…`).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from promptq.webhook_secrets import new_webhook_secret
from promptq.store.models import KEY_SOURCE_CLI, KEY_SOURCE_ENV, ApiKey, Tenant, new_id, utcnow

# `pq_` + 32 random bytes (256 bits), URL-safe: recognisable in logs and secret scanners.
KEY_PREFIX = "pq_"


def hash_key(key: str) -> str:
    # Keys are high-entropy, so a fast hash is enough and lets us look a key up by it.
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class KeyInfo:
    """What may be shown of a key: never the key, nor its hash."""

    id: str | None
    tenant: str
    source: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def ensure_tenant(engine: Engine, tenant: str) -> None:
    """Create tenant `tenant` (with its webhook secret) unless it exists; safe to race."""
    try:
        with Session(engine) as s:
            if s.get(Tenant, tenant) is None:
                s.add(Tenant(id=tenant, webhook_secret=new_webhook_secret()))
                s.commit()
    except IntegrityError:
        pass  # another process created it first


def ensure_env_key(engine: Engine, tenant: str, key: str) -> ApiKey | None:
    """Store key `key` of PROMPTQ_API_KEYS for `tenant` unless it is stored; returns its row,
    None when another tenant already holds that key. A revoked key stays revoked."""
    ensure_tenant(engine, tenant)
    key_hash = hash_key(key)
    try:
        with Session(engine, expire_on_commit=False) as s:
            row = s.get(ApiKey, key_hash)
            if row is None:
                row = ApiKey(key_hash=key_hash, tenant_id=tenant, id=new_id("key"), source=KEY_SOURCE_ENV)
                s.add(row)
            elif row.id is None:  # stored before keys had public ids
                row.id = new_id("key")
                row.source = row.source or KEY_SOURCE_ENV
                s.add(row)
            s.commit()
    except IntegrityError:  # another process stored it first
        with Session(engine, expire_on_commit=False) as s:
            row = s.get(ApiKey, key_hash)
    return row if row is not None and row.tenant_id == tenant else None


def revoke_unlisted_env_keys(engine: Engine, listed: set[str]) -> int:
    """Revoke the keys that came from PROMPTQ_API_KEYS and are no longer in it (by hash);
    keys created by the CLI are not affected. Returns how many were revoked."""
    stmt = (update(ApiKey)
            .where(or_(col(ApiKey.source) == KEY_SOURCE_ENV, col(ApiKey.source).is_(None)),
                   col(ApiKey.revoked_at).is_(None), col(ApiKey.key_hash).not_in(sorted(listed)))
            .values(revoked_at=utcnow()))
    with Session(engine) as s:
        revoked = s.exec(stmt).rowcount  # type: ignore[call-overload]
        s.commit()
    return int(revoked or 0)


def create_key(engine: Engine, tenant: str) -> tuple[str, str]:
    """A new key for `tenant` (created if new): (its public id, the key). The key is not
    stored and cannot be shown again."""
    ensure_tenant(engine, tenant)
    key, key_id = new_api_key(), new_id("key")
    with Session(engine) as s:
        s.add(ApiKey(key_hash=hash_key(key), tenant_id=tenant, id=key_id, source=KEY_SOURCE_CLI))
        s.commit()
    return key_id, key


def list_keys(engine: Engine, tenant: str | None = None) -> list[KeyInfo]:
    query = select(ApiKey).order_by(col(ApiKey.tenant_id), col(ApiKey.created_at))
    if tenant is not None:
        query = query.where(ApiKey.tenant_id == tenant)
    with Session(engine) as s:
        return [KeyInfo(id=r.id, tenant=r.tenant_id, source=r.source or KEY_SOURCE_ENV, created_at=r.created_at,
                        last_used_at=r.last_used_at, revoked_at=r.revoked_at) for r in s.exec(query)]


def revoke_key(engine: Engine, key_id: str) -> bool | None:
    """Revoke the key named `key_id`: True if revoked now, False if it already was, None
    if there is no such key."""
    with Session(engine) as s:
        row = s.exec(select(ApiKey).where(ApiKey.id == key_id)).first()
        if row is None:
            return None
        if row.revoked_at is not None:
            return False
        row.revoked_at = utcnow()
        s.add(row)
        s.commit()
    return True


def live_key(session: Session, key_hash: str) -> tuple[str, datetime | None] | None:
    """(tenant, last used) of the unrevoked key with hash `key_hash`, or None."""
    row = session.exec(select(ApiKey.tenant_id, ApiKey.last_used_at)
                       .where(ApiKey.key_hash == key_hash, col(ApiKey.revoked_at).is_(None))).first()
    return None if row is None else (row[0], row[1])


def mark_used(engine: Engine, key_hash: str, when: datetime) -> None:
    with Session(engine) as s:
        s.exec(update(ApiKey).where(col(ApiKey.key_hash) == key_hash).values(last_used_at=when))  # type: ignore[call-overload]
        s.commit()

"""API keys: stored as SHA-256 hashes, bootstrapped from PROMPTQ_API_KEYS."""

from __future__ import annotations

import hashlib
import logging

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from promptq.settings import DEV_API_KEY, Settings
from promptq.store.models import ApiKey, Tenant
from promptq.webhook_secrets import new_webhook_secret

log = logging.getLogger(__name__)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def bootstrap(engine: Engine, settings: Settings) -> None:
    """Make sure every configured tenant and key exists (idempotent, safe to race)."""
    for key, tenant in settings.tenant_keys().items():
        try:
            with Session(engine) as s:
                if s.get(Tenant, tenant) is None:
                    s.add(Tenant(id=tenant, webhook_secret=new_webhook_secret()))
                    s.flush()
                if s.get(ApiKey, hash_key(key)) is None:
                    s.add(ApiKey(key_hash=hash_key(key), tenant_id=tenant))
                s.commit()
        except IntegrityError:
            pass  # another process created it first
    if not settings.api_keys:
        log.warning("PROMPTQ_API_KEYS is not set: development key for tenant 'dev' is %s", DEV_API_KEY)


def tenant_for_hash(session: Session, key_hash: str) -> str | None:
    return session.exec(select(ApiKey.tenant_id).where(ApiKey.key_hash == key_hash)).first()


def known_tenant(session: Session, cache: dict[str, str], key: str) -> str | None:
    """The tenant of API key `key`, or None for an unknown key. Known keys are remembered
    in `cache` by their hash, never in plain text. Raises what the store raises."""
    key_hash = hash_key(key)
    tenant = cache.get(key_hash)
    if tenant is None:
        tenant = tenant_for_hash(session, key_hash)
        if tenant is not None:
            cache[key_hash] = tenant
    return tenant

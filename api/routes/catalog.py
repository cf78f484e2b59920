"""The task catalog and the tenant's webhook secret."""

from __future__ import annotations

from fastapi import APIRouter

from promptq.api.deps import SessionDep, TenantDep
from promptq.api.errors import APIError, documented
from promptq.api.schemas import TaskList, TaskPublic, WebhookSecret, WebhookSecretRotated
from promptq.prompts.registry import all_tasks, versions_of
from promptq.store.deliveries import rotate_secret
from promptq.store.models import Tenant
from promptq.webhook_secrets import ROTATION_OVERLAP, new_webhook_secret

router = APIRouter(prefix="/v1", tags=["catalog"], responses=documented(401, 503))


@router.get("/tasks", response_model=TaskList)
def list_tasks(_: TenantDep) -> TaskList:
    return TaskList(data=[
        TaskPublic(name=t.name, description=t.description, prompt_version=t.version,
                   versions=versions_of(t.name), model=t.model, fallbacks=list(t.fallbacks),
                   output_schema=t.schema)
        for t in all_tasks()])


@router.get("/webhooks/secret", response_model=WebhookSecret, responses=documented(404))
def webhook_secret(tenant: TenantDep, session: SessionDep) -> WebhookSecret:
    """The secret that signs this tenant's webhooks; verify with any Standard Webhooks library."""
    row = session.get(Tenant, tenant)
    if row is None:
        raise APIError(404, "tenant has no webhook secret")
    return WebhookSecret(secret=row.webhook_secret)


@router.post("/webhooks/secret/rotate", response_model=WebhookSecretRotated, responses=documented(404))
def rotate_webhook_secret(tenant: TenantDep, session: SessionDep) -> WebhookSecretRotated:
    """A new secret for this tenant's webhooks. For 24 hours every delivery carries a
    signature with the new secret and one with the previous (space-separated, as Standard
    Webhooks allows), so receivers switch without losing events; deliveries carry the new
    one within a minute. Rotating again within 24 h ends the older secret's validity."""
    secret = new_webhook_secret()
    rotated_at = rotate_secret(session, tenant, secret)
    if rotated_at is None:
        raise APIError(404, "tenant has no webhook secret")
    return WebhookSecretRotated(secret=secret, previous_valid_until=rotated_at + ROTATION_OVERLAP)

"""The task catalog and the tenant's webhook secret."""

from __future__ import annotations

from fastapi import APIRouter

from promptq.api.deps import SessionDep, TenantDep
from promptq.api.errors import APIError, documented
from promptq.api.schemas import TaskList, TaskPublic, WebhookSecret
from promptq.prompts.registry import all_tasks, versions_of
from promptq.store.models import Tenant

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

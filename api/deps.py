"""Dependencies of the routes, as Annotated aliases (the routes stay declarative)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from promptq.api.auth import dev_tenant, known_tenant
from promptq.api.errors import APIError
from promptq.api.storable import StorableStr
from promptq.settings import Settings
from promptq.store.models import Batch, Job

_bearer = HTTPBearer(auto_error=False, description="An API key from PROMPTQ_API_KEYS")


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]


def get_tenant(request: Request, session: SessionDep,
               creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    if creds is None or not creds.credentials:
        raise APIError(401, "missing API key: send Authorization: Bearer <key>")
    client = request.client.host if request.client else None
    tenant = (dev_tenant(request.app.state.settings, creds.credentials, client)
              or known_tenant(session, request.app.state.key_cache, creds.credentials))
    if tenant is None:
        raise APIError(401, "invalid API key")
    return tenant


TenantDep = Annotated[str, Depends(get_tenant)]


def get_job_or_404(job_id: StorableStr, tenant: TenantDep, session: SessionDep) -> Job:
    job = session.get(Job, job_id)
    # Another tenant's job is indistinguishable from a missing one.
    if job is None or job.tenant_id != tenant:
        raise APIError(404, f"no job {job_id!r}")
    return job


def get_batch_or_404(batch_id: StorableStr, tenant: TenantDep, session: SessionDep) -> Batch:
    batch = session.get(Batch, batch_id)
    if batch is None or batch.tenant_id != tenant:
        raise APIError(404, f"no batch {batch_id!r}")
    return batch


JobDep = Annotated[Job, Depends(get_job_or_404)]
BatchDep = Annotated[Batch, Depends(get_batch_or_404)]

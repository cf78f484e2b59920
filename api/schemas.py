"""Request and response bodies of the HTTP API (the job and batch objects live in store/public.py)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from promptq.api.storable import StorableStr, json_problem
from promptq.store.public import BatchPublic, JobPublic
from promptq.store.status import Priority

MAX_METADATA_KEYS = 32
# Metadata rides along in every job object and webhook: a few identifiers, not a second
# document (bytes of its JSON).
MAX_METADATA_BYTES = 16 * 1024
# Levels of nested objects and arrays, the metadata object itself the first: well within
# every serialiser's recursion limit (api/json_depth.py caps the whole body a little higher).
MAX_METADATA_DEPTH = 32


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _small_metadata(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return value
    if len(value) > MAX_METADATA_KEYS:
        raise ValueError(f"metadata takes at most {MAX_METADATA_KEYS} keys")
    problem = json_problem(value, MAX_METADATA_DEPTH)
    if problem is not None:
        raise ValueError(problem)
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_METADATA_BYTES:
        raise ValueError(f"metadata is {size} bytes as JSON; the limit is {MAX_METADATA_BYTES}")
    return value


class Message(_Strict):
    role: Literal["user", "assistant"]
    content: StorableStr = Field(min_length=1)


class JobInput(_Strict):
    """A document (`text`) or a conversation (`messages`), not both."""

    # The validator below, as the published schema says it (a null counts as absent):
    # clients that generate code or validate from the OpenAPI document see the rule.
    model_config = ConfigDict(extra="forbid", json_schema_extra={"oneOf": [
        {"required": ["text"], "properties": {"text": {"type": "string"}}},
        {"required": ["messages"], "properties": {"messages": {"type": "array"}}},
    ]})
    text: StorableStr | None = Field(None, min_length=1, description="The document to process.")
    messages: list[Message] | None = Field(None, min_length=1, max_length=1000,
                                           description="A conversation, oldest first.")

    @model_validator(mode="after")
    def _one_of_text_or_messages(self) -> JobInput:
        if (self.text is None) == (self.messages is None):
            raise ValueError("input takes exactly one of text or messages")
        return self


class JobCreate(_Strict):
    task: StorableStr = Field(description="A task name from GET /v1/tasks.")
    input: JobInput
    webhook_url: StorableStr | None = Field(None, max_length=2048)
    metadata: dict[str, Any] | None = None
    priority: Priority = Priority.INTERACTIVE

    _meta = field_validator("metadata")(_small_metadata)


class DocumentIn(_Strict):
    custom_id: StorableStr | None = Field(None, max_length=128)
    text: StorableStr = Field(min_length=1)
    metadata: dict[str, Any] | None = None

    _meta = field_validator("metadata")(_small_metadata)


class BatchCreate(_Strict):
    task: StorableStr
    documents: list[DocumentIn] = Field(min_length=1)
    webhook_url: StorableStr | None = Field(None, max_length=2048)
    priority: Priority = Priority.BATCH


class JobList(BaseModel):
    object: Literal["list"] = "list"
    data: list[JobPublic]
    has_more: bool
    next_after: str | None


class TaskPublic(BaseModel):
    object: Literal["task"] = "task"
    name: str
    description: str
    prompt_version: str
    versions: list[str]
    model: str
    fallbacks: list[str]
    output_schema: dict[str, Any]


class TaskList(BaseModel):
    object: Literal["list"] = "list"
    data: list[TaskPublic]


class WebhookSecret(BaseModel):
    object: Literal["webhook_secret"] = "webhook_secret"
    secret: str
    scheme: str = "Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature: v1,<base64 HMAC-SHA256>)"


class WebhookSecretRotated(WebhookSecret):
    """A new secret; deliveries are signed with it and with the previous one until
    `previous_valid_until` (space-separated signatures in webhook-signature)."""

    previous_valid_until: datetime


__all__ = ["BatchCreate", "BatchPublic", "DocumentIn", "JobCreate", "JobList", "JobPublic",
           "TaskList", "TaskPublic", "WebhookSecret", "WebhookSecretRotated"]

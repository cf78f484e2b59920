"""Typed configuration, read once from the environment and passed down.

Variable names are the public contract (see README, "Configuration"): promptq's own
carry the ``PROMPTQ_`` prefix, the providers' keep the names their SDKs use.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

log = logging.getLogger(__name__)

DEV_TENANT = "dev"
# Never stored; accepted only in development, while PROMPTQ_API_KEYS is empty, from loopback.
DEV_API_KEY = "pq_dev_key_for_local_use_only"


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PROMPTQ_", extra="ignore")

    env: Literal["development", "production"] = "development"
    database_url: str = "sqlite:///./promptq.db"
    redis_url: str = "redis://localhost:6379/0"
    # `tenant:key[,tenant:key…]`, the whole truth at start; empty (development only): the
    # development key, from loopback clients only.
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    webhook_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Prefix of every Redis key promptq writes (lets tests and tenants of one Redis coexist).
    redis_prefix: str = "promptq"

    anthropic_api_key: str | None = Field(None, validation_alias=AliasChoices("ANTHROPIC_API_KEY"))
    anthropic_base_url: str | None = Field(None, validation_alias=AliasChoices("ANTHROPIC_BASE_URL"))
    openai_api_key: str | None = Field(None, validation_alias=AliasChoices("OPENAI_API_KEY"))
    openai_base_url: str | None = Field(None, validation_alias=AliasChoices("OPENAI_BASE_URL"))
    # A directory shaped like prompts/ (tasks.toml, v1/<task>.txt, v1/<task>.schema.json)
    # whose tasks are added to, or replace, the built-in ones.
    prompts_dir: str | None = None
    # Where the simulator listens when no provider key is set (host root, no /v1).
    sim_url: str = "http://127.0.0.1:8765"

    # Worker runtime. LLM calls are I/O-bound: one process keeps `worker_concurrency`
    # calls in flight on threads (Little's law: in-flight ≈ rate × latency).
    worker_concurrency: int = 200
    # Messages a worker takes beyond its threads, as a fraction of them (promptq/broker.py):
    # a thread that finishes starts the next job at once. An interactive job can wait
    # behind that many batch messages already taken.
    worker_prefetch_headroom: float = Field(0.1, ge=0.0, le=1.0)
    # glibc malloc arenas a worker process may use (0: glibc's default, 8 per core), so
    # 200 threads do not spread the heap over 16 arenas (docs/decisions/0008-malloc-arenas.md).
    worker_malloc_arenas: int = Field(2, ge=0, le=64)
    # Container allocations between two collections of the GC's youngest generation
    # (0: CPython's 700), and how long a thread may hold the GIL before a waiting one
    # claims it, seconds (0: CPython's 0.005); docs/decisions/0007-interpreter-gc-and-switch-interval.md.
    worker_gc_threshold: int = Field(50_000, ge=0, le=10_000_000)
    worker_switch_interval_s: float = Field(0.05, ge=0.0, le=1.0)
    # Celery task events (received/started/succeeded, 3 broker messages per job) for
    # Flower's task pages. Off: they cost more CPU than the rest of Celery's work per
    # job (bench/), and Flower lists workers by their heartbeats without them.
    task_events: bool = False
    # Deadline of one provider call, seconds (the SDKs' 600 s default is far too long).
    call_timeout_s: float = 120.0
    connect_timeout_s: float = 5.0
    # A running job whose worker stops renewing its lease for this long is presumed dead.
    job_lease_s: float = 30.0
    # The relay re-publishes a queued job whose message left its queue this many seconds
    # ago without the job being claimed (lost with a worker, or by Redis), or never arrived.
    relay_stale_s: float = 60.0
    relay_interval_s: float = 1.0
    # Finished jobs' input, result, metadata and webhook payloads are erased this many
    # days after they finished (the relay sweeps); 0: kept until DELETE /v1/jobs/{id}.
    retention_days: float = Field(0.0, ge=0.0, le=36_500.0)
    # Messages the shared batch queue holds; a tenant's others wait in a list of its own,
    # moved in round-robin between tenants (promptq/holds.py), so none waits behind more.
    batch_queue_depth: int = Field(1000, ge=1, le=100_000)
    # Waits up to this many seconds ride in a broker message (countdown); longer ones
    # are parked in the store with a not-before time and re-published by the relay.
    max_countdown_s: float = 300.0
    # A TOML table of provider rate limits (shape: workers/ratelimit/limits.example.toml);
    # unset: nothing is limited up front, and limits the providers advertise are learned.
    rate_limits_file: str | None = Field(None, validation_alias=AliasChoices("PROMPTQ_RATE_LIMITS"))
    # How long a worker thread may wait for rate-limit capacity before it hands the job
    # back to the queue (seconds); waiting never counts against the attempt budget.
    capacity_wait_s: float = 5.0
    # A worker process reserves rate-limit capacity for its calls of this many seconds at
    # once and settles them locally (workers/ratelimit/lease.py); 0: one reservation in
    # Redis per call. Others see a cooldown this process did not set up to this late.
    rate_limit_lease_s: float = Field(0.1, ge=0.0, le=5.0)
    # Per-job budget of provider attempts (transport retries, repairs and fallbacks; a
    # split document's calls that extracted a piece do not count).
    max_attempts: int = 8
    # Runs (claims) of one job, all kinds together (capacity waits re-queue a job without
    # spending attempts); beyond it the job fails `too_many_runs`: a backstop for loops.
    max_runs: int = Field(10_000, ge=10, le=1_000_000)
    # Runs of one job that ended with its lease lapsing (worker died, or its finish
    # failed); one more and the relay fails the job `too_many_runs` instead of re-queuing.
    max_lapsed_runs: int = Field(3, ge=1, le=100)
    # A ledger row still `pending` this long after its call started belongs to a dead
    # worker: the relay marks it `unknown`, keeping the reserved estimate (seconds; more
    # than call_timeout_s + job_lease_s).
    ledger_unsettled_s: float = Field(900.0, ge=1.0, le=86_400.0)
    max_batch_documents: int = 10_000
    max_document_chars: int = 2_000_000
    # A request body larger than this (bytes) is refused with a 413 before it is read:
    # the API reads a body whole (and parses it) before it checks the caller's key.
    max_request_bytes: int = 64 * 1024 * 1024
    # Live event streams open at once in one API process; each holds a Redis connection
    # while it waits, and Redis (shared with the broker and the rate limiter) takes a
    # limited number. Beyond it a stream request answers 503; polling still works.
    max_event_streams: int = 1000
    # Of those, at most this many for one tenant, so that one tenant cannot take every
    # place; beyond it that tenant's stream requests answer 429.
    max_event_streams_per_tenant: int = 100
    # How long an API process trusts what it learnt of an API key (seconds): a key revoked
    # in the store (`promptq keys revoke`, or removed from PROMPTQ_API_KEYS) stops working
    # on running API processes within this time.
    api_key_cache_s: float = Field(5.0, ge=0.0, le=60.0)
    # Seconds an event stream waits for an event before it sends a ping and asks the
    # store whether the job finished (its terminal event may have been lost).
    event_ping_s: float = 15.0

    # Wall-clock deadline of one webhook attempt (DNS, connect, send, the answer), seconds.
    webhook_timeout_s: float = 10.0
    # The first attempt of a webhook is handed to the worker process's webhook loop right
    # after the job's finish commit, with this deadline (seconds); retries ride the webhooks
    # queue. 0: every attempt goes through the queue.
    webhook_inline_timeout_s: float = 2.0
    # Webhook attempts under way at once in one worker process, to one destination
    # (host:port), for one tenant, and in all; beyond them deliveries wait on the
    # process's webhook loop (never on a worker thread), up to `webhook_max_queued`
    # (more are left to the relay).
    webhook_max_per_host: int = Field(4, ge=1, le=1000)
    webhook_max_per_tenant: int = Field(16, ge=1, le=10_000)
    webhook_max_in_flight: int = Field(64, ge=1, le=10_000)
    webhook_max_queued: int = Field(10_000, ge=1, le=1_000_000)

    # Bearer token for GET /metrics (Prometheus); unset: the endpoint answers 404.
    metrics_token: str | None = None

    flower_basic_auth: str | None = Field(None, validation_alias=AliasChoices("FLOWER_BASIC_AUTH"))

    _split_lists = field_validator("api_keys", "webhook_allowed_hosts", mode="before")(_split_csv)

    @field_validator("anthropic_api_key", "anthropic_base_url", "openai_api_key", "openai_base_url",
                     mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # docker-compose passes `${ANTHROPIC_BASE_URL:-}` as an empty string: that is no URL.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("database_url")
    @classmethod
    def _driver_for_plain_postgres_url(cls, url: str) -> str:
        # Users write postgresql://…; SQLAlchemy would pick psycopg2, which we do not ship.
        for plain in ("postgresql://", "postgres://"):
            if url.startswith(plain):
                return "postgresql+psycopg://" + url[len(plain):]
        return url

    @field_validator("api_keys")
    @classmethod
    def _keys_are_tenant_colon_key(cls, keys: list[str]) -> list[str]:
        for entry in keys:
            tenant, sep, key = entry.partition(":")
            if not sep or not tenant or len(key) < 16:
                raise ValueError(
                    "PROMPTQ_API_KEYS entries are tenant:key with a key of at least 16 characters"
                )
        return keys

    @model_validator(mode="after")
    def _refuse_unsafe_production_defaults(self) -> Settings:
        if self.env == "production":
            if not self.api_keys:
                raise ValueError("PROMPTQ_API_KEYS must be set when PROMPTQ_ENV=production")
            if self.webhook_allowed_hosts:
                log.warning("PROMPTQ_WEBHOOK_ALLOWED_HOSTS is set in production: %s",
                            ", ".join(self.webhook_allowed_hosts))
        return self

    @model_validator(mode="after")
    def _unsettled_after_calls_end(self) -> Settings:
        # A call still in flight must not be marked unknown: its settle would find it swept.
        if self.ledger_unsettled_s <= self.call_timeout_s + self.job_lease_s:
            raise ValueError("PROMPTQ_LEDGER_UNSETTLED_S must exceed PROMPTQ_CALL_TIMEOUT_S + PROMPTQ_JOB_LEASE_S")
        return self

    @property
    def has_provider_key(self) -> bool:
        return bool(self.anthropic_api_key or self.openai_api_key)

    @property
    def uses_simulator(self) -> bool:
        """No provider key at all, in development: every provider is promptq's simulator
        (production never answers from it)."""
        return not self.has_provider_key and self.env == "development"

    @property
    def dev_key_enabled(self) -> bool:
        """DEV_API_KEY works (from loopback only): in development, with no key configured."""
        return self.env == "development" and not self.api_keys

    def tenant_keys(self) -> dict[str, str]:
        """The API keys of PROMPTQ_API_KEYS as key → tenant (the development key is never one)."""
        return {key: tenant for tenant, _, key in (e.partition(":") for e in self.api_keys)}


@lru_cache
def get_settings() -> Settings:
    return Settings()

"""What a worker process builds once and shares between its threads."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import partial

import redis
from sqlalchemy.engine import Engine

from promptq import batch_progress
from promptq.settings import Settings, get_settings
from promptq.store.engine import engine_for
from promptq.workers.claimer import Claimer, new_claimer
from promptq.workers.event_writer import EventWriter
from promptq.workers.finisher import Finisher
from promptq.workers.leases import LeaseKeeper
from promptq.workers.ledger import LedgerWriter
from promptq.workers.llm.client import LLMClient
from promptq.workers.policy import RetryPolicy
from promptq.workers.ratelimit import RateLimiter, RedisBackend, load_limits
from promptq.workers.webhooks.records import DeliveredLog
from promptq.workers.webhooks.delivery import Deliverer


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    redis: redis.Redis
    llm: LLMClient
    leases: LeaseKeeper
    policy: RetryPolicy
    limiter: RateLimiter
    webhooks: Deliverer  # webhook attempts, on an event loop thread of their own
    delivered_log: DeliveredLog  # successful webhook attempts, group-committed by one thread
    events: EventWriter  # live job events and counters, written in order by one thread
    claimer: Claimer  # job claims, made in groups by one thread: `claimer(job_id)`
    finisher: Finisher  # job finishes, group-committed by one thread
    ledger: LedgerWriter  # provider calls' ledger rows, reserved and settled by one thread

    def write_what_is_queued(self) -> None:
        """Make the job claims, ledger rows and finishes, delivered webhook attempts and
        live events still queued in this process, and stop the threads that make them
        (later ones are made by their callers, alone)."""
        self.claimer.stop()
        self.ledger.stop()
        self.finisher.stop()
        self.webhooks.stop()  # before delivered_log: its last attempts are recorded there
        self.delivered_log.stop()
        self.events.close()


_runtime: Runtime | None = None
_lock = threading.Lock()


def get_runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        with _lock:
            if _runtime is None:
                _runtime = build_runtime(get_settings())
    return _runtime


def current() -> Runtime | None:
    """This process's runtime, if it built one."""
    return _runtime


def build_runtime(settings: Settings) -> Runtime:
    engine = engine_for(settings.database_url)
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=10, socket_connect_timeout=5,
                                  health_check_interval=30,
                                  max_connections=settings.worker_concurrency + 16)
    delivered_log = DeliveredLog(engine)
    return Runtime(
        settings=settings,
        engine=engine,
        redis=client,
        limiter=RateLimiter(RedisBackend(client, prefix=settings.redis_prefix),
                            load_limits(settings.rate_limits_file), lease_s=settings.rate_limit_lease_s),
        llm=LLMClient.from_settings(settings),
        leases=LeaseKeeper(engine, settings.job_lease_s),
        policy=RetryPolicy(max_attempts=settings.max_attempts),
        webhooks=Deliverer(engine, settings, delivered_log),
        delivered_log=delivered_log,
        events=EventWriter(client, settings.redis_prefix),
        claimer=new_claimer(engine, settings.job_lease_s),
        finisher=Finisher(engine, count_down=partial(
            batch_progress.count_finished, client, settings.redis_prefix)),
        ledger=LedgerWriter(engine),
    )


def reset_after_fork() -> None:
    global _runtime
    if _runtime is not None:
        _runtime.engine.dispose(close=False)
    _runtime = None

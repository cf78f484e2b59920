"""The FastAPI application: a thin submit/poll edge over the store and the broker."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from promptq import __version__
from promptq.api import auth, errors
from promptq.api.body_limit import BodyLimit
from promptq.api.json_depth import JsonDepthLimit
from promptq.api.key_first import KeyBeforeBody
from promptq.api.routes import batches, catalog, health, jobs, metrics
from promptq.settings import Settings, get_settings
from promptq.store.engine import engine_for
from promptq.store.migrate import require_head

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.engine = engine_for(settings.database_url)
        require_head(app.state.engine)  # also when started by uvicorn alone, not `promptq api`
        app.state.redis = aioredis.Redis.from_url(settings.redis_url, socket_connect_timeout=5,
                                                  socket_timeout=5, max_connections=50)
        # Event streams block in XREAD for up to event_ping_s: their own connections, with a
        # read timeout beyond that (redis-py's default, 5 s here, cut every stream of a job
        # that took longer), one per open stream.
        app.state.stream_redis = aioredis.Redis.from_url(
            settings.redis_url, socket_connect_timeout=5, socket_timeout=settings.event_ping_s + 10,
            max_connections=settings.max_event_streams + 10)
        app.state.open_streams = Counter()  # by tenant
        app.state.key_cache = auth.KeyCache(settings.api_key_cache_s)
        auth.bootstrap(app.state.engine, settings)
        if settings.uses_simulator:
            log.warning("no provider key set: workers call promptq's simulator at %s", settings.sim_url)
        yield
        await app.state.redis.aclose()
        await app.state.stream_redis.aclose()

    # The docs pages' Swagger UI and ReDoc assets come from the installed package, not a
    # CDN: a private deployment without internet still sees its /docs.
    app = FastAPIOffline(title="promptq", version=__version__, lifespan=lifespan,
                         description="Submit LLM extraction and enrichment jobs; poll, stream or "
                                     "receive signed webhooks.")
    errors.install(app)
    # The last added runs first: an over-long declared body is refused (413) before the key
    # is looked up, a body without a known key (401) before it is read, and a body nesting
    # too deep (422) while it is read, before it is parsed.
    app.add_middleware(JsonDepthLimit)
    app.add_middleware(KeyBeforeBody)
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    for router in (jobs.router, batches.router, catalog.router, health.router, metrics.router):
        app.include_router(router)
    return app

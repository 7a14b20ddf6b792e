"""`create_app(settings.api)`: the read API over the views the stream agents maintain."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from learnstream.sections import ApiSettings
from learnstream.settings import Settings, get_settings
from sinks.api import errors
from sinks.api.cache import DashboardCache
from sinks.api.db import Database, redis_client
from sinks.api.errors import ErrorBody
from sinks.api.routes import router

DESCRIPTION = """Read-only views of learner progress, certificates, recommendations, teams and
course statistics. Authenticate with `Authorization: Bearer <JWT>` (claims `sub`, `roles`,
`iss`, `aud`, `exp`); roles: `learner` (self), `manager` (current direct reports), `admin`."""


def create_app(settings: ApiSettings | None = None, stack: Settings | None = None) -> FastAPI:
    """`settings`: the API's section (default the stack's); `stack` supplies the Postgres and
    Redis addresses that `settings` leaves unset (default: the environment's)."""
    stack = stack or get_settings()
    settings = settings or stack.api
    settings.require_signing_key()
    db = Database(
        settings.postgres_url(stack.postgres_url),
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        timeout_s=settings.connect_timeout_s,
    )
    cache_client = redis_client(
        settings.redis_address(stack.redis_address), settings.connect_timeout_s
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        db.open()
        try:
            yield
        finally:
            db.close()
            cache_client.close()

    app = FastAPI(
        title="learnstream read API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.redis = cache_client
    app.state.cache = DashboardCache(cache_client, settings.redis_key_prefix, settings.cache_ttl_s)
    errors.install(app)

    @app.exception_handler(psycopg.OperationalError)
    async def _postgres_down(_: Request, exc: psycopg.OperationalError) -> JSONResponse:
        body = ErrorBody(error="unavailable", message=f"Postgres unavailable: {exc}"[:300])
        return JSONResponse(body.model_dump(), status_code=503, headers={"Retry-After": "5"})

    app.include_router(router)
    return app

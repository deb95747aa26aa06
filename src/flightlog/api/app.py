"""``create_app()``: the FastAPI application, on a settings URL or an engine you own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

import flightlog
from flightlog.api.batches import publish_body_schemas
from flightlog.api.consistency import ReadYourWrites
from flightlog.api.context import ApiContext
from flightlog.api.docs_pages import install as install_docs_pages
from flightlog.api.errors import install_error_handlers
from flightlog.api.heap import freeze_startup_heap
from flightlog.api.json_depth import JsonDepthLimit
from flightlog.api.limits import BodyLimit
from flightlog.api.openapi import install_contract
from flightlog.api.routes import (
    agents,
    artifacts,
    customers,
    events,
    health,
    insights,
    metrics,
    model_prices,
    otlp,
    projects,
    pull_requests,
    reviews,
    runs,
    sessions,
    stream,
    tasks,
    templates,
    work,
)
from flightlog.db.engine import create_async_db_engine
from flightlog.db.paging_pool import close_paging_pool, open_paging_pool
from flightlog.db.presence import require_existing_database
from flightlog.schemas.events import EventBatch
from flightlog.schemas.metrics import MetricBatch
from flightlog.settings import Settings, get_settings
from flightlog.store.core import dispose_replicas

API_PREFIX = "/api/v1"


def create_app(
    settings: Settings | None = None,
    *,
    engine: AsyncEngine | None = None,
    connection: AsyncConnection | None = None,
    dashboard: bool = True,
    freeze_heap_at_start: bool = False,
) -> FastAPI:
    """The HTTP API.

    Without ``engine``, the app opens one from ``settings`` (default: the
    environment) when it starts and disposes of it when it stops; the schema
    must already be at head (``flightlog db upgrade``). With ``engine`` the
    caller owns it; with ``connection`` too, every request runs in savepoints
    of that connection's transaction (embedding, tests). ``dashboard`` adds
    the web pages at ``/`` (signing in takes an API key). ``freeze_heap_at_start``
    is for a process that serves this app until it exits (``flightlog serve``):
    once started, what exists is kept out of the garbage collector's full
    collections (:mod:`flightlog.api.heap`).
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if engine is not None:
            try:
                yield
            finally:
                await dispose_replicas(app.state.flightlog.replicas)
            return
        require_existing_database(settings.database)  # a mistyped SQLite path is not created
        owned = create_async_db_engine(settings)
        context: ApiContext | None = None
        try:
            context = app.state.flightlog = ApiContext(owned, settings)
            if context.replicas is None:
                open_paging_pool(owned, settings)
            if freeze_heap_at_start:
                freeze_startup_heap()
            yield
        finally:
            await close_paging_pool(owned)
            await owned.dispose()
            if context is not None:
                await dispose_replicas(context.replicas)

    app = FastAPI(
        title="Flightlog",
        version=flightlog.__version__,
        description="The system of record for multi-agent AI workflows.",
        lifespan=lifespan,
        docs_url=None,  # docs_pages serves /docs and /redoc with local assets, not a CDN's
        redoc_url=None,
    )
    if engine is not None:
        app.state.flightlog = ApiContext(engine, settings, connection)
    install_error_handlers(app)
    # Added first, so innermost: a body the limits refuse never reaches the database.
    app.add_middleware(ReadYourWrites)
    # Added last, so outermost: the size ceiling applies before the depth check reads a body.
    raw_bodies = [(method, API_PREFIX + path) for method, path in artifacts.RAW_BODY_ROUTES]
    raw_bodies += otlp.RAW_BODY_ROUTES
    app.add_middleware(JsonDepthLimit, raw_body_routes=raw_bodies)
    app.add_middleware(
        BodyLimit, max_bytes=settings.api_max_body_bytes, exempt=otlp.RAW_BODY_ROUTES
    )
    app.include_router(health.router, prefix=API_PREFIX)
    app.include_router(otlp.router)  # at the root, where OTLP exporters send
    # Routes are matched in this order, one by one: the writes agents send most
    # (events, metrics) come first, so they are not matched against every task route.
    for module in (
        events,
        metrics,
        stream,
        tasks,
        runs,
        work,
        agents,
        artifacts,
        projects,
        templates,
        reviews,
        pull_requests,
        insights,
        model_prices,
        sessions,
        customers,
    ):
        app.include_router(module.router, prefix=API_PREFIX)
    publish_body_schemas(app, (EventBatch, MetricBatch))
    install_contract(app)
    install_docs_pages(app)
    if dashboard:
        from flightlog import web

        web.install(app)
    return app

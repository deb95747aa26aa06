"""Liveness with substance: the database answers and says its schema revision.

With ``?detail=true`` and a key that has the ``operator`` scope, the answer
adds ``store.health()`` and ``store.stats()`` (seed 004's ``health_check()``
and ``get_comprehensive_stats()``): latency, pool state, row counts, size and
index usage of the whole database. Any other caller, with or without a key,
gets the plain answer: the detail spans every customer, so a tenant's key
must not see it, and a probe without a key must keep working.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from flightlog.api.auth import context
from flightlog.api.context import ApiContext
from flightlog.api.errors import RETRY_AFTER_SECONDS
from flightlog.db.failures import driver_errors
from flightlog.errors import FlightlogError
from flightlog.schemas.health import Health, HealthDetail
from flightlog.services.api_keys import OPERATOR_SCOPE
from flightlog.store.core import Store

router = APIRouter(tags=["health"])

_DETAIL = (
    "With an API key that has the `operator` scope: add the database's health (latency, "
    "server version, schema revision against head, pool state) and statistics (row counts, "
    "size, index usage). Other callers get the plain answer."
)


@router.get(
    "/health",
    response_model=Health | HealthDetail,
    responses={503: {"model": Health | HealthDetail}},
)
async def health(
    request: Request,
    ctx: Annotated[ApiContext, Depends(context)],
    detail: Annotated[bool, Query(description=_DETAIL)] = False,
) -> Health | HealthDetail | JSONResponse:
    """No key needed, so a load balancer can probe it; 503 when the database does not answer."""
    dialect = ctx.engine.dialect.name
    if detail and (operator := await _operator_store(request, ctx)) is not None:
        return await _detail(operator, dialect)
    try:
        async with ctx.sessions() as session:
            revision = await session.scalar(text("SELECT version_num FROM alembic_version"))
    except driver_errors():
        # Whatever the driver raised (a refused connection surfaces as OSError, a full
        # server as asyncpg's own error), the answer is the same: not ready.
        return _unavailable(Health(status="unavailable", database=dialect, schema_revision=None))
    return Health(status="ok", database=dialect, schema_revision=revision)


async def _operator_store(request: Request, ctx: ApiContext) -> Store | None:
    """The Store of an operator key's customer, or None for any other caller.

    A missing, unknown or revoked key, a key without the operator scope, or
    one that cannot be checked because the database is down: the plain answer.
    """
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    refusals: tuple[type[Exception], ...] = (FlightlogError, *driver_errors())
    try:
        key = await ctx.keys.verify(credentials.strip())
    except refusals:
        return None
    if OPERATOR_SCOPE not in key.scopes:
        return None
    return ctx.store_for(key.customer_id)


async def _detail(store: Store, dialect: str) -> HealthDetail | JSONResponse:
    found = await store.health()
    if not found.reachable:
        return _unavailable(
            HealthDetail(status="unavailable", database=dialect, schema_revision=None, health=found)
        )
    statistics = await store.stats()
    return HealthDetail(
        status="ok",
        database=dialect,
        schema_revision=found.schema_revision,
        health=found,
        statistics=statistics,
    )


def _unavailable(body: Health) -> JSONResponse:
    return JSONResponse(
        body.model_dump(mode="json"),
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )

"""Liveness with substance: the database answers and says its schema revision."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import text

from flightlog.api.auth import context
from flightlog.api.context import ApiContext
from flightlog.api.errors import RETRY_AFTER_SECONDS
from flightlog.db.failures import driver_errors
from flightlog.schemas.health import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health(ctx: Annotated[ApiContext, Depends(context)]) -> Health | JSONResponse:
    """No key needed, so a load balancer can probe it; 503 when the database does not answer."""
    dialect = ctx.engine.dialect.name
    try:
        async with ctx.sessions() as session:
            revision = await session.scalar(text("SELECT version_num FROM alembic_version"))
    except driver_errors():
        # Whatever the driver raised (a refused connection surfaces as OSError, a full
        # server as asyncpg's own error), the answer is the same: not ready.
        down = Health(status="unavailable", database=dialect, schema_revision=None)
        return JSONResponse(
            down.model_dump(),
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return Health(status="ok", database=dialect, schema_revision=revision)

"""Metric points: record a batch, read a series or per-name summaries, list names and sources."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from flightlog.api.auth import TenantStore
from flightlog.api.batches import documented_body, read_batch, refuse_times_not_text
from flightlog.schemas.fields import QueryTime
from flightlog.schemas.metrics import MetricBatch, MetricPointOut, MetricSummaryOut, Recorded
from flightlog.services.metrics import MAX_NAMES, MAX_SERIES_POINTS, MetricName, MetricSource

router = APIRouter(prefix="/metrics", tags=["metrics"])
#: A rule across parameters, which OpenAPI cannot state: a request with neither is a 422.
_OWNER = "The task, or the run, whose metrics to read: give task_id or run_id (or both)."


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Recorded,
    openapi_extra=documented_body(MetricBatch),
)
async def record_metrics(request: Request, store: TenantStore) -> Recorded:
    """Record atomically; every point belongs to a task or a run of the caller.

    The body is ``{"metrics": [...]}`` of up to 10,000 points shaped as ``NewMetric``.
    """
    points = await read_batch(request, "metrics")
    refuse_times_not_text(points, "recorded_at", "metric")
    return Recorded(recorded=await store.metrics.record_batch(points))


@router.get("/series", response_model=list[MetricPointOut])
async def series(
    store: TenantStore,
    name: str,
    task_id: Annotated[uuid.UUID | None, Query(description=_OWNER)] = None,
    run_id: Annotated[uuid.UUID | None, Query(description=_OWNER)] = None,
    since: QueryTime | None = None,
    until: QueryTime | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_SERIES_POINTS)] = 1000,
) -> list[MetricPointOut]:
    """One named series of a task or run, in time order."""
    points = await store.metrics.series(
        name, task_id=task_id, run_id=run_id, since=since, until=until, limit=limit
    )
    return [MetricPointOut.model_validate(p) for p in points]


@router.get("/summary", response_model=dict[str, MetricSummaryOut])
async def summary(
    store: TenantStore,
    task_id: Annotated[uuid.UUID | None, Query(description=_OWNER)] = None,
    run_id: Annotated[uuid.UUID | None, Query(description=_OWNER)] = None,
    name: Annotated[list[str] | None, Query()] = None,
    since: QueryTime | None = None,
    until: QueryTime | None = None,
) -> dict[str, MetricSummaryOut]:
    """count, min, max, avg and last value per metric name, optionally within a time window."""
    found = await store.metrics.summarize(
        task_id=task_id, run_id=run_id, names=name, since=since, until=until
    )
    return {key: MetricSummaryOut.model_validate(value) for key, value in found.items()}


@router.get("/names", response_model=list[MetricName])
async def names(
    store: TenantStore, limit: Annotated[int, Query(ge=1, le=MAX_NAMES)] = 500
) -> list[MetricName]:
    """The metric names recorded on the caller's tasks and runs, with counts, by name."""
    return await store.metrics.names(limit=limit)


@router.get("/sources", response_model=list[MetricSource])
async def sources(
    store: TenantStore, name: str, limit: Annotated[int, Query(ge=1, le=MAX_NAMES)] = 100
) -> list[MetricSource]:
    """The caller's tasks and runs that recorded ``name``, most recently recorded first."""
    return await store.metrics.sources(name, limit=limit)

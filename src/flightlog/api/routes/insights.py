"""Read models: full-text task search, the seed-004 reporting views and the charts' aggregates."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from flightlog.api.auth import TenantStore
from flightlog.schemas.fields import QueryTime
from flightlog.schemas.tasks import SearchHit, SearchPageOut, TaskOut
from flightlog.services.insights import (
    MAX_BUCKET_SECONDS,
    MAX_BUCKETS,
    DurationBin,
    OutcomeBucket,
    UsageBucket,
    UsageBy,
)
from flightlog.services.overview import MAX_TOP, Overview
from flightlog.services.search import MAX_OFFSET, MAX_RESULTS
from flightlog.services.views import MAX_PAGE_SIZE, ActiveTask, TaskExecutionSummary

router = APIRouter(tags=["insights"])


@router.get("/search/tasks", response_model=list[SearchHit])
async def search_tasks(
    store: TenantStore,
    q: Annotated[str, Query(min_length=1, max_length=500, description="Words, quoted phrases")],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[
        int, Query(ge=0, le=MAX_OFFSET, description="Skip this many better matches.")
    ] = 0,
) -> list[SearchHit]:
    """Best matches first, over titles, descriptions and prompts (any input is safe)."""
    hits = await store.search.tasks(q, limit=limit, offset=offset)
    return [SearchHit(task=TaskOut.model_validate(task), rank=rank) for task, rank in hits]


@router.get("/search/tasks/page", response_model=SearchPageOut)
async def search_page(
    store: TenantStore,
    q: Annotated[str, Query(min_length=1, max_length=500, description="Words, quoted phrases")],
    offset: Annotated[
        int, Query(ge=0, le=MAX_OFFSET, description="A page's next_offset or previous_offset.")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_RESULTS)] = 50,
) -> SearchPageOut:
    """A page of the best matches with the count of all (``GET /search/tasks`` stays an array)."""
    found = await store.search.page(q, offset=offset, limit=limit)
    return SearchPageOut(
        items=[SearchHit(task=TaskOut.model_validate(t), rank=r) for t, r in found.items],
        total=found.total,
        offset=found.offset,
        next_offset=found.next_offset,
        previous_offset=found.previous_offset,
    )


@router.get("/views/overview", response_model=Overview)
async def overview(
    store: TenantStore,
    top: Annotated[int, Query(ge=1, le=MAX_TOP, description="Busiest agents, failures.")] = 5,
) -> Overview:
    """Tasks and runs by status, success rate, busiest agents, what waits for a person."""
    return await store.views.overview(top=top)


@router.get("/views/active-tasks", response_model=list[ActiveTask])
async def active_tasks(
    store: TenantStore,
    project_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 100,
) -> list[ActiveTask]:
    """Tasks that are pending or running, with their open dependencies."""
    return await store.views.active_tasks(project_id=project_id, limit=limit)


@router.get("/views/task-execution-summary/{task_id}", response_model=TaskExecutionSummary)
async def task_execution_summary(task_id: uuid.UUID, store: TenantStore) -> TaskExecutionSummary:
    return await store.views.task_execution_summary(task_id)


#: The windows of the charts' aggregates: ``buckets`` windows of ``bucket_seconds`` from ``since``.
BucketSeconds = Annotated[
    int, Query(ge=60, le=MAX_BUCKET_SECONDS, description="Width of a window, in seconds.")
]
Buckets = Annotated[int, Query(ge=1, le=MAX_BUCKETS, description="How many windows.")]
Since = Annotated[QueryTime, Query(description="Start of the first window (cut to the second).")]


@router.get("/views/usage", response_model=list[UsageBucket])
async def usage(
    store: TenantStore,
    since: Since,
    bucket_seconds: BucketSeconds = 86_400,
    buckets: Buckets = 30,
    by: Annotated[UsageBy, Query(description="Group by agent name or by project.")] = "agent",
) -> list[UsageBucket]:
    """Agent runs, tokens and cost per window and agent (or project); non-empty windows only."""
    return await store.views.usage(
        since=since, bucket_seconds=bucket_seconds, buckets=buckets, by=by
    )


@router.get("/views/run-outcomes", response_model=list[OutcomeBucket])
async def run_outcomes(
    store: TenantStore, since: Since, bucket_seconds: BucketSeconds = 86_400, buckets: Buckets = 30
) -> list[OutcomeBucket]:
    """Runs finished per window by outcome, with each window's success rate."""
    return await store.views.run_outcomes(
        since=since, bucket_seconds=bucket_seconds, buckets=buckets
    )


@router.get("/views/run-durations", response_model=list[DurationBin])
async def run_durations(
    store: TenantStore, since: QueryTime, until: QueryTime | None = None
) -> list[DurationBin]:
    """A histogram of how long the runs that finished in ``[since, until)`` took."""
    return await store.views.run_durations(since=since, until=until)

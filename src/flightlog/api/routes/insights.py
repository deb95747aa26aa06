"""Read models: full-text task search and the seed-004 reporting views."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from flightlog.api.auth import TenantStore
from flightlog.schemas.tasks import SearchHit, TaskOut
from flightlog.services.overview import MAX_TOP, Overview
from flightlog.services.views import MAX_PAGE_SIZE, ActiveTask, TaskExecutionSummary

router = APIRouter(tags=["insights"])


@router.get("/search/tasks", response_model=list[SearchHit])
async def search_tasks(
    store: TenantStore,
    q: Annotated[str, Query(min_length=1, max_length=500, description="Words, quoted phrases")],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[SearchHit]:
    """Best matches first, over titles, descriptions and prompts (any input is safe)."""
    hits = await store.search.tasks(q, limit=limit)
    return [SearchHit(task=TaskOut.model_validate(task), rank=rank) for task, rank in hits]


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

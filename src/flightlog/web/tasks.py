"""Tasks: the list with its filters and one task with its runs, artifacts and events."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from flightlog.enums import TaskStatus
from flightlog.web.session import DashboardStore, page

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


@router.get("/tasks")
async def tasks(
    request: Request,
    store: DashboardStore,
    status: TaskStatus | None = None,
    cursor: uuid.UUID | None = None,
) -> Response:
    found = await store.tasks.list(status=status, cursor=cursor, limit=50)
    return page(
        request,
        "tasks.html",
        {"page": found, "status": status, "statuses": list(TaskStatus), "nav": "tasks"},
    )


@router.get("/tasks/{task_id}")
async def task(request: Request, task_id: uuid.UUID, store: DashboardStore) -> Response:
    found = await store.tasks.get(task_id)
    return page(
        request,
        "task.html",
        {
            "task": found,
            "runs": await store.runs.list(task_id),
            "artifacts": await store.artifacts.latest(task_id),
            "events": (await store.events.list(task_id=task_id, limit=100)).items,
            "nav": "tasks",
        },
    )

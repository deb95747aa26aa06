"""A run's timeline: its agent steps and events in time."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from flightlog.web.session import DashboardStore, page

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


@router.get("/runs/{run_id}")
async def run(
    request: Request,
    run_id: uuid.UUID,
    store: DashboardStore,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> Response:
    timeline = await store.runs.timeline(run_id, limit=limit)
    found = await store.tasks.get(timeline.run.task_id)
    return page(
        request,
        "run.html",
        {"run": timeline.run, "task": found, "timeline": timeline, "nav": "tasks"},
    )

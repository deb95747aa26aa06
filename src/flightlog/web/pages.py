"""The dashboard's pages: overview, tasks, a task, a run's timeline, agents; sign in and out."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from flightlog.api.auth import context
from flightlog.api.context import ApiContext
from flightlog.enums import PullRequestStatus, TaskStatus
from flightlog.errors import PermissionDenied
from flightlog.services import agents as agent_service
from flightlog.services._common import utc_now
from flightlog.web.session import (
    DashboardStore,
    end_session,
    page,
    root,
    safe_next,
    same_origin,
    set_session,
)

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
#: Sign-in forms are tiny; a larger body is not a browser's.
_MAX_FORM_BYTES = 4096


@router.get("/login")
async def login_form(request: Request, next: str = "/") -> Response:
    return page(request, "login.html", {"next": safe_next(next)})


def _refuse(request: Request, status: int, message: str) -> Response:
    return page(request, "error.html", {"status": status, "message": message}, status)


@router.post("/login")
async def login(request: Request, ctx: Annotated[ApiContext, Depends(context)]) -> Response:
    """Check the pasted key, then keep it in an HttpOnly cookie."""
    if not same_origin(request):
        return _refuse(request, 403, "this form must be sent from the Flightlog dashboard itself")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > _MAX_FORM_BYTES:
        return _refuse(request, 413, "a sign-in form is a few hundred bytes; this one is not")
    raw = await request.body()
    form = parse_qs(raw[:_MAX_FORM_BYTES].decode(errors="replace"))
    key = (form.get("key") or [""])[0].strip()
    target = safe_next((form.get("next") or ["/"])[0])
    try:
        await ctx.keys.verify(key)
    except PermissionDenied as exc:
        return page(request, "login.html", {"next": target, "error": exc.message}, 401)
    response = RedirectResponse(f"{root(request)}{target}", status_code=303)
    set_session(response, request, key)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    if not same_origin(request):
        return _refuse(request, 403, "this form must be sent from the Flightlog dashboard itself")
    response = RedirectResponse(f"{root(request)}/login", status_code=303)
    end_session(response, request)
    return response


@router.get("/")
async def overview(request: Request, store: DashboardStore) -> Response:
    customer = await store.customers.get()
    view = await store.views.overview()
    return page(request, "overview.html", {"customer": customer, "view": view, "nav": "overview"})


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


@router.get("/waiting")
async def waiting(request: Request, store: DashboardStore) -> Response:
    """Everything that waits for a person: plans, recommendations, changes, reviews."""
    open_reviews = [PullRequestStatus.OPEN, PullRequestStatus.CHANGES_REQUESTED]
    return page(
        request,
        "waiting.html",
        {
            "plans": await store.views.plans_waiting(),
            "recommendations": await store.recommendations.list(status="PENDING"),
            "modifications": await store.views.modifications_waiting(),
            "pull_requests": await store.pull_requests.list(status=open_reviews),
            "nav": "waiting",
        },
    )


@router.get("/agents")
async def agents(request: Request, store: DashboardStore) -> Response:
    settings = store.settings
    now = utc_now()
    rows = [
        (
            agent,
            agent_service.effective_status(
                agent,
                now,
                degraded_after=settings.agent_degraded_after_seconds,
                failed_after=settings.agent_failed_after_seconds,
            ),
        )
        for agent in await store.agents.list()
    ]
    return page(request, "agents.html", {"rows": rows, "nav": "agents"})

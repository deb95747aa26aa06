"""Pages to find things by: search, agents, projects, sessions and pull requests.

Each list links to a page of its own; every read is a Store call for the signed-in
customer, so another customer's id is the same 404 page as a missing one.
Artifacts (preview and download) are :mod:`flightlog.web.artifacts`, included here.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from flightlog.enums import PullRequestStatus
from flightlog.models import Agent
from flightlog.services._common import not_found, utc_now
from flightlog.services.agents import effective_status
from flightlog.services.pull_requests import merge_blockers
from flightlog.services.search import MAX_OFFSET
from flightlog.store.core import Store
from flightlog.web import artifacts
from flightlog.web.query import Blank, Links
from flightlog.web.session import DashboardStore, page, root

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
router.include_router(artifacts.router)

SEARCH_RESULTS = 50
PAGE_SIZE = 50
AGENT_RUNS_PER_PAGE = 20
#: Most tasks of a session's runs whose titles are looked up one by one.
MAX_TITLES = 50


@router.get("/search")
async def search(
    request: Request,
    store: DashboardStore,
    q: Annotated[str, Query(max_length=500)] = "",
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Response:
    """Full-text search over the customer's tasks (``store.search.page``), best match first,
    a page at a time both ways with the count of all matches ("51-100 of 213")."""
    found = await store.search.page(q, offset=offset, limit=SEARCH_RESULTS) if q.strip() else None
    return page(
        request,
        "search.html",
        {
            "query": q,
            "found": found,
            "hits": found.items if found else [],
            "link": Links(root(request), "/search", {"q": q}),
            "nav": "tasks",
        },
    )


@router.get("/agents")
async def agents(request: Request, store: DashboardStore) -> Response:
    """Every agent by name, with its health derived from its heartbeats."""
    now, settings = utc_now(), store.settings
    rows = [
        (
            agent,
            effective_status(
                agent,
                now,
                degraded_after=settings.agent_degraded_after_seconds,
                failed_after=settings.agent_failed_after_seconds,
            ),
        )
        for agent in await store.agents.list()
    ]
    return page(request, "agents.html", {"rows": rows, "now": now, "nav": "agents"})


async def _agent(store: Store, reference: str) -> Agent:
    """An agent by id, or by its name (unique within a customer); NotFound like a missing id."""
    try:
        agent_id = uuid.UUID(reference)
    except ValueError:
        for agent in await store.agents.list():
            if agent.name == reference:
                return agent
        raise not_found(Agent, reference) from None
    return await store.agents.get(agent_id)


@router.get("/agents/{agent_id:path}")
async def agent(
    request: Request,
    agent_id: str,
    store: DashboardStore,
    cursor: Annotated[uuid.UUID | None, Blank] = None,
    before: Annotated[uuid.UUID | None, Blank] = None,
) -> Response:
    """One agent (by id or name): health and heartbeat, runs, error rates, tokens and cost."""
    found = await _agent(store, agent_id)
    activity = await store.agents.activity(
        found.id, cursor=cursor, before=before, limit=AGENT_RUNS_PER_PAGE
    )
    return page(
        request,
        "agent.html",
        {
            "agent": found,
            "health": await store.agents.status(found.id),
            "activity": activity,
            "cursor": cursor or before,
            "now": utc_now(),
            "nav": "agents",
        },
    )


@router.get("/projects")
async def projects(
    request: Request,
    store: DashboardStore,
    cursor: Annotated[uuid.UUID | None, Blank] = None,
    before: Annotated[uuid.UUID | None, Blank] = None,
) -> Response:
    """Projects newest first, a page at a time both ways with the total."""
    found = await store.projects.list(cursor=cursor, before=before, total=True, limit=PAGE_SIZE)
    link = Links(root(request), "/projects", {})
    return page(request, "projects.html", {"page": found, "link": link, "nav": "projects"})


@router.get("/projects/{project_id}")
async def project(request: Request, project_id: uuid.UUID, store: DashboardStore) -> Response:
    """One project: its tasks, modification requests and pull requests."""
    found = await store.projects.get(project_id)
    return page(
        request,
        "project.html",
        {
            "project": found,
            "tasks": await store.tasks.list(project_id=project_id, limit=20, total=True),
            "modifications": (await store.modifications.list(project_id, limit=50)).items,
            "pull_requests": await store.pull_requests.list(project_id=project_id, limit=50),
            "nav": "projects",
        },
    )


@router.get("/sessions")
async def sessions(
    request: Request,
    store: DashboardStore,
    cursor: Annotated[uuid.UUID | None, Blank] = None,
    before: Annotated[uuid.UUID | None, Blank] = None,
) -> Response:
    """Conversations (OpenTelemetry sessions), newest first, with their runs' totals, a page
    at a time both ways with the total ("51-100 of 213")."""
    found = await store.sessions.page(cursor=cursor, before=before, total=True, limit=PAGE_SIZE)
    return page(
        request,
        "sessions.html",
        {"page": found, "link": Links(root(request), "/sessions", {}), "nav": "sessions"},
    )


@router.get("/sessions/{session_id}")
async def session(request: Request, session_id: uuid.UUID, store: DashboardStore) -> Response:
    """One session with its runs in the order they started."""
    found = await store.sessions.get(session_id)
    runs = await store.sessions.runs(session_id)
    titles = {}
    for task_id in list(dict.fromkeys(run.task_id for run in runs))[:MAX_TITLES]:
        titles[task_id] = (await store.tasks.get(task_id)).title
    return page(
        request,
        "session.html",
        {"session": found, "runs": runs, "titles": titles, "nav": "sessions"},
    )


@router.get("/pull-requests")
async def pull_requests(
    request: Request,
    store: DashboardStore,
    status: Annotated[PullRequestStatus | None, Blank] = None,
    project: Annotated[uuid.UUID | None, Blank] = None,
    cursor: Annotated[uuid.UUID | None, Blank] = None,
    before: Annotated[uuid.UUID | None, Blank] = None,
) -> Response:
    """Pull requests newest first, filtered, a page at a time both ways with the total."""
    found = await store.pull_requests.page(
        status=status, project_id=project, cursor=cursor, before=before, total=True, limit=PAGE_SIZE
    )
    projects = (await store.projects.list(limit=500)).items
    params = {"status": status.value if status else None, "project": project}
    return page(
        request,
        "pull_requests.html",
        {
            "page": found,
            "link": Links(root(request), "/pull-requests", params),
            "status": status.value if status else "",
            "project": str(project or ""),
            "statuses": list(PullRequestStatus),
            "projects": projects,
            "project_names": {p.id: p.name for p in projects},
            "nav": "pull_requests",
        },
    )


@router.get("/pull-requests/{pull_request_id}")
async def pull_request(
    request: Request, pull_request_id: uuid.UUID, store: DashboardStore
) -> Response:
    """One pull request: status, checks, what they allow, and its review history."""
    found = await store.pull_requests.get(pull_request_id)
    task = await store.tasks.get(found.task_id) if found.task_id else None
    checks = await store.pull_requests.checks(pull_request_id)
    return page(
        request,
        "pull_request.html",
        {
            "pr": found,
            "project": await store.projects.get(found.project_id),
            "task": task,
            "checks": checks,
            "blockers": merge_blockers(checks),
            "validation": await store.views.pr_validation_status(pull_request_id),
            "history": await store.pull_requests.history(pull_request_id),
            "nav": "pull_requests",
        },
    )

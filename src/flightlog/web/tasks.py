"""Tasks: the list (filters, sortable columns, pages both ways with totals) and one task.

The list is ``store.tasks.list`` with ``total=True``; every link on it keeps the
other parameters (a sort keeps the filters, a filter keeps the sort) and starts
again at the first page, while the pager changes only the cursor. A task page
shows its runs, artifacts (each with a preview page), events, subtasks and pull
requests, and marks the parts that change as live regions scoped to the task.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import StringConstraints

from flightlog.enums import TaskStatus
from flightlog.services._common import utc_now
from flightlog.services.events import MAX_EVENT_ID
from flightlog.services.task_list import SORTS, TaskSort
from flightlog.web.query import Blank, Links
from flightlog.web.session import DashboardStore, page, root

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

#: The time ranges the filter offers, newest first.
WITHIN = {
    "1h": ("the last hour", timedelta(hours=1)),
    "24h": ("the last 24 hours", timedelta(days=1)),
    "7d": ("the last 7 days", timedelta(days=7)),
    "30d": ("the last 30 days", timedelta(days=30)),
}
Within = Literal["1h", "24h", "7d", "30d"]
Tag = Annotated[str, StringConstraints(max_length=200)]
#: Which way a column sorts when first clicked: newest, highest first; names and statuses A to Z.
FIRST_DESCENDING = {
    "created": True,
    "updated": True,
    "priority": True,
    "title": False,
    "status": False,
}
COLUMNS = (("title", "task"), ("status", "status"), ("priority", "priority"))
PER_PAGE = (20, 50, 100)
EVENTS_PER_PAGE = 100
#: A task's agent runs per page (those of its runs and those recorded for the task alone).
AGENT_RUNS_PER_PAGE = 20


@router.get("/tasks")
async def tasks(
    request: Request,
    store: DashboardStore,
    status: Annotated[TaskStatus | None, Blank] = None,
    project: Annotated[uuid.UUID | None, Blank] = None,
    tag: Annotated[Tag | None, Blank] = None,
    agent: Annotated[uuid.UUID | None, Blank] = None,
    within: Annotated[Within | None, Blank] = None,
    by: Annotated[Literal["created", "updated"] | None, Blank] = None,
    sort: Annotated[TaskSort | None, Blank] = None,
    order: Annotated[Literal["asc", "desc"] | None, Blank] = None,
    cursor: Annotated[uuid.UUID | None, Blank] = None,
    before: Annotated[uuid.UUID | None, Blank] = None,
    per_page: Annotated[int, Query(ge=1, le=max(PER_PAGE))] = PER_PAGE[0],
) -> Response:
    """The customer's tasks, filtered, sorted and a page at a time either way."""
    sort_by: TaskSort = sort or "created"
    descending = FIRST_DESCENDING[sort_by] if order is None else order == "desc"
    since = utc_now() - WITHIN[within][1] if within is not None else None
    found = await store.tasks.list(
        status=status,
        project_id=project,
        tag=tag,
        agent_id=agent,
        created_since=since if by != "updated" else None,
        updated_since=since if by == "updated" else None,
        sort=sort_by,
        descending=descending,
        cursor=cursor,
        before=before,
        total=True,
        limit=per_page,
    )
    projects = (await store.projects.list(limit=500)).items
    agents = await store.agents.list()
    params = {
        "status": status.value if status else None,
        "project": project,
        "tag": tag,
        "agent": agent,
        "within": within,
        "by": by if by == "updated" else None,
        "sort": sort,
        "order": order,
        "per_page": per_page if per_page != PER_PAGE[0] else None,
        "cursor": cursor,
        "before": before,
    }
    links = Links(root(request), "/tasks", params)
    return page(
        request,
        "tasks.html",
        {
            "page": found,
            "first": (found.offset or 0) + 1,
            "last": (found.offset or 0) + len(found.items),
            "filters": {
                "status": status.value if status else "",
                "project": str(project or ""),
                "tag": tag or "",
                "agent": str(agent or ""),
                "within": within or "",
                "by": by or "created",
            },
            "filtered": any(v is not None for v in (status, project, tag, agent, within)),
            "sort": sort_by,
            "descending": descending,
            "columns": COLUMNS,
            "sorts": SORTS,
            "statuses": [s for s in TaskStatus if s.name == s.value],
            "projects": projects,
            "project_names": {p.id: p.name for p in projects},
            "agents": agents,
            "within_choices": [(key, label) for key, (label, _) in WITHIN.items()],
            "per_page": per_page,
            "per_page_choices": PER_PAGE,
            "link": links,
            "first_descending": FIRST_DESCENDING,
            "nav": "tasks",
        },
    )


@router.get("/tasks/{task_id}")
async def task(
    request: Request,
    task_id: uuid.UUID,
    store: DashboardStore,
    events_after: Annotated[int, Query(ge=0, le=MAX_EVENT_ID)] = 0,
    events_before: Annotated[int | None, Query(ge=1, le=MAX_EVENT_ID)] = None,
    cursor: Annotated[uuid.UUID | None, Blank] = None,
    before: Annotated[uuid.UUID | None, Blank] = None,
) -> Response:
    """One task: its state, runs, agent runs, artifacts, events, subtasks and pull requests.

    Agent runs by start time, paged both ways with their total (``cursor`` /
    ``before``): those of the task's runs and those recorded for the task alone
    (seed 001's steps without a run, which no run page shows). Events read oldest
    first from ``events_after``, or the page just before ``events_before`` (the
    newest page is the one before the largest id). The agent runs' pager keeps
    the events' place.
    """
    found = await store.tasks.get(task_id)
    agent_runs = await store.agent_runs.list_for_task(
        task_id, cursor=cursor, before=before, total=True, limit=AGENT_RUNS_PER_PAGE
    )
    runs = await store.runs.list(task_id)
    events = await store.events.list(
        task_id=task_id,
        after_id=events_after if events_before is None else 0,
        before_id=events_before,
        limit=EVENTS_PER_PAGE,
    )
    project = await store.projects.get(found.project_id) if found.project_id else None
    parent = await store.tasks.get(found.parent_task_id) if found.parent_task_id else None
    assigned = await store.agents.get(found.assigned_agent_id) if found.assigned_agent_id else None
    return page(
        request,
        "task.html",
        {
            "task": found,
            "project": project,
            "parent": parent,
            "assigned": assigned,
            "runs": runs,
            "run_numbers": {run.id: run.run_number for run in runs},
            "agent_runs": agent_runs,
            "agent_runs_link": Links(
                root(request),
                f"/tasks/{task_id}",
                {"events_after": events_after or None, "events_before": events_before},
            ),
            "artifacts": await store.artifacts.latest(task_id),
            "events": events.items,
            "events_paged": bool(events_after or events_before),
            "next_events": events.next_after_id,
            "previous_events": events.previous_before_id,
            "newest_events": MAX_EVENT_ID,
            "subtasks": await store.tasks.subtasks(task_id),
            "dependencies": await store.tasks.dependencies(task_id),
            "pull_requests": await store.pull_requests.list(task_id=task_id),
            "now": utc_now(),
            "nav": "tasks",
        },
    )

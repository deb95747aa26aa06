"""Pages to find things by: agents (and, as they come, projects, sessions, pull requests)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from flightlog.services import agents as agent_service
from flightlog.services._common import utc_now
from flightlog.web.session import DashboardStore, page

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


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

"""The dashboard's home pages: the overview and everything waiting for a person."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from flightlog.enums import PullRequestStatus
from flightlog.web.session import DashboardStore, page
from flightlog.web.timeline import PLAN_DEPTH, plan_json

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


@router.get("/")
async def overview(request: Request, store: DashboardStore) -> Response:
    customer = await store.customers.get()
    view = await store.views.overview()
    return page(request, "overview.html", {"customer": customer, "view": view, "nav": "overview"})


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
            # Plans drawn as the run page draws them.
            "plan_json": plan_json,
            "plan_depth": PLAN_DEPTH,
            "nav": "waiting",
        },
    )

"""Pull requests, their validation checks, and the validation view (seed 004)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from flightlog.api.auth import TenantStore
from flightlog.api.paging import CountTotal, NextCursor, PreviousCursor
from flightlog.enums import PullRequestStatus
from flightlog.schemas.events import EventOut
from flightlog.schemas.pull_requests import (
    CheckIn,
    CheckOut,
    PullRequestIn,
    PullRequestMove,
    PullRequestOut,
    PullRequestPageOut,
)
from flightlog.services.views import PrValidationStatus

router = APIRouter(prefix="/pull-requests", tags=["pull requests"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=PullRequestOut)
async def create_pull_request(body: PullRequestIn, store: TenantStore) -> PullRequestOut:
    """A DRAFT pull request; its number is unique per project and repository."""
    fields = body.model_dump(exclude_none=True)
    return PullRequestOut.model_validate(await store.pull_requests.create(**fields))


@router.get("", response_model=list[PullRequestOut])
async def list_pull_requests(
    store: TenantStore,
    project_id: uuid.UUID | None = None,
    task_id: uuid.UUID | None = None,
    pr_status: Annotated[list[PullRequestStatus] | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[PullRequestOut]:
    found = await store.pull_requests.list(
        project_id=project_id, task_id=task_id, status=pr_status, limit=limit
    )
    return [PullRequestOut.model_validate(p) for p in found]


@router.get("/page", response_model=PullRequestPageOut)
async def pull_request_page(
    store: TenantStore,
    project_id: uuid.UUID | None = None,
    task_id: uuid.UUID | None = None,
    pr_status: Annotated[list[PullRequestStatus] | None, Query(alias="status")] = None,
    cursor: NextCursor = None,
    before: PreviousCursor = None,
    total: CountTotal = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> PullRequestPageOut:
    """Newest first, a page at a time both ways (``GET /pull-requests`` keeps its plain list)."""
    found = await store.pull_requests.page(
        project_id=project_id,
        task_id=task_id,
        status=pr_status,
        cursor=cursor,
        before=before,
        total=total,
        limit=limit,
    )
    return PullRequestPageOut.model_validate(found)


@router.get("/{pull_request_id}", response_model=PullRequestOut)
async def get_pull_request(pull_request_id: uuid.UUID, store: TenantStore) -> PullRequestOut:
    return PullRequestOut.model_validate(await store.pull_requests.get(pull_request_id))


@router.post("/{pull_request_id}/status", response_model=PullRequestOut)
async def move(
    pull_request_id: uuid.UUID, body: PullRequestMove, store: TenantStore
) -> PullRequestOut:
    """Open, request changes, approve, merge (refused while a check fails) or close."""
    moved = await store.pull_requests.transition(
        pull_request_id, body.status, actor=body.actor, comment=body.comment
    )
    return PullRequestOut.model_validate(moved)


@router.post("/{pull_request_id}/checks", response_model=CheckOut)
async def record_check(pull_request_id: uuid.UUID, body: CheckIn, store: TenantStore) -> CheckOut:
    """Record (or update, by name) one validation check's outcome."""
    check = await store.pull_requests.record_check(pull_request_id, **body.model_dump())
    return CheckOut.model_validate(check)


@router.get("/{pull_request_id}/checks", response_model=list[CheckOut])
async def checks(pull_request_id: uuid.UUID, store: TenantStore) -> list[CheckOut]:
    return [CheckOut.model_validate(c) for c in await store.pull_requests.checks(pull_request_id)]


@router.get("/{pull_request_id}/history", response_model=list[EventOut])
async def history(pull_request_id: uuid.UUID, store: TenantStore) -> list[EventOut]:
    """Its moves through review, oldest first: who, when, from and to, and the comment."""
    found = await store.pull_requests.history(pull_request_id)
    return [EventOut.model_validate(event) for event in found]


@router.get("/{pull_request_id}/validation", response_model=PrValidationStatus)
async def validation(pull_request_id: uuid.UUID, store: TenantStore) -> PrValidationStatus:
    """Counts of passed, failed, pending and skipped checks, and the overall state."""
    return await store.views.pr_validation_status(pull_request_id)

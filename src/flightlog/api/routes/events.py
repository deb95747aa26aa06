"""The event log: append a batch, read pages after an id cursor."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from flightlog.api.auth import TenantStore
from flightlog.api.batches import (
    documented_body,
    read_batch,
    refuse_server_events,
    refuse_times_not_text,
)
from flightlog.enums import EventSeverity, EventType
from flightlog.schemas.events import EventBatch, EventIds, EventOut, EventPageOut
from flightlog.services.events import MAX_EVENT_ID, MAX_PAGE_SIZE

router = APIRouter(prefix="/events", tags=["events"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=EventIds,
    openapi_extra=documented_body(EventBatch),
)
async def append_events(request: Request, store: TenantStore) -> EventIds:
    """Append atomically: one invalid event, or one of another tenant's tasks, and none is kept.

    The body is ``{"events": [...]}`` of up to 10,000 events shaped as ``NewEvent``.
    """
    events = await read_batch(request, "events")
    refuse_server_events(events)
    refuse_times_not_text(events, "created_at", "event")
    return EventIds(ids=await store.events.append_batch(events))


@router.get("", response_model=EventPageOut)
async def list_events(
    store: TenantStore,
    task_id: uuid.UUID | None = None,
    run_id: uuid.UUID | None = None,
    after_id: Annotated[int, Query(ge=0, le=MAX_EVENT_ID)] = 0,
    before_id: Annotated[
        int | None,
        Query(
            ge=1,
            le=MAX_EVENT_ID,
            description="A page's previous_before_id: the page before it (not with after_id).",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 100,
    event_type: Annotated[list[EventType] | None, Query()] = None,
    severity: Annotated[list[EventSeverity] | None, Query()] = None,
    agent_role: str | None = None,
) -> EventPageOut:
    """In id order after ``after_id`` (or just before ``before_id``): a stable cursor however
    many writers append meanwhile."""
    page = await store.events.list(
        task_id=task_id,
        run_id=run_id,
        after_id=after_id,
        before_id=before_id,
        limit=limit,
        event_types=event_type,
        severities=severity,
        agent_role=agent_role,
    )
    return EventPageOut(
        items=[EventOut.model_validate(e) for e in page.items],
        next_after_id=page.next_after_id,
        previous_before_id=page.previous_before_id,
    )

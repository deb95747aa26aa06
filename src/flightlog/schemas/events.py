"""The event log: the events a client appends in a batch, and the pages it reads."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, WithJsonSchema

from flightlog.enums import EventSeverity, EventType
from flightlog.schemas._base import In, Out
from flightlog.schemas.fields import MAX_BATCH, Time
from flightlog.services import events as event_service

#: Written by Flightlog itself when state changes; a client may not forge them.
SERVER_EVENT_TYPES = frozenset({EventType.STATUS_CHANGE, EventType.AUDIT})


class EventOut(Out):
    id: int
    task_id: uuid.UUID | None
    run_id: uuid.UUID | None
    agent_run_id: uuid.UUID | None
    agent_id: uuid.UUID | None
    parent_event_id: int | None
    event_type: EventType
    severity: EventSeverity
    agent_role: str | None
    content: str | None
    data: dict[str, Any] | None
    entity_type: str | None
    entity_id: str | None
    actor: str | None
    trace_id: str | None = Field(description="The OpenTelemetry trace the event was recorded from.")
    span_id: str | None = Field(description="The OpenTelemetry span the event was recorded from.")
    created_at: datetime


class EventPageOut(BaseModel):
    items: list[EventOut]
    next_after_id: int | None = Field(description="Pass back as ?after_id= for the next page.")
    previous_before_id: int | None = Field(
        default=None, description="Pass back as ?before_id= for the page before (none first)."
    )


class NewEvent(event_service.NewEvent):
    """The Store's ``NewEvent`` as a client may send it: not the types Flightlog writes itself.

    The event's ``content`` and ``data`` together may hold at most
    ``FLIGHTLOG_MAX_EVENT_PAYLOAD_BYTES`` (1 MiB by default).
    """

    event_type: Annotated[
        EventType,
        WithJsonSchema(
            {
                "type": "string",
                "enum": [t.value for t in EventType if t not in SERVER_EVENT_TYPES],
                "title": "ClientEventType",
            }
        ),
    ]
    created_at: Time | None = None


class EventBatch(In):
    """``POST /events``: read by :mod:`flightlog.api.batches`; this model documents it."""

    events: list[NewEvent] = Field(min_length=1, max_length=MAX_BATCH)


class EventIds(BaseModel):
    ids: list[int] = Field(description="The new events' ids, in the order they were sent.")

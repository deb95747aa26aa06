"""The append-only event log: append one or a batch, read pages by id cursor.

Ids only grow, so "events after id N" is a stable cursor: a reader never
skips or repeats a row, however many writers append meanwhile. How a page is
read is :mod:`flightlog.services.event_paging`.

:func:`append_event` and :func:`list_events` are the tenant's operations
(``store.events.append`` and ``store.events.list``): they stamp and check the
customer. :func:`append` and :func:`append_batch` write events exactly as
given, for code that built them itself (other services' audit events); the
Store's batch path is :mod:`flightlog.ingest`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import insert, select, type_coerce
from sqlalchemy.orm import Session

from flightlog.db.types import UtcDateTime, utcnow
from flightlog.enums import EventSeverity, EventType
from flightlog.errors import ValidationError
from flightlog.models import Event
from flightlog.services._common import AwareDatetime
from flightlog.services.event_paging import MAX_EVENT_ID as MAX_EVENT_ID
from flightlog.services.event_paging import MAX_PAGE_SIZE as MAX_PAGE_SIZE
from flightlog.services.event_paging import EventPage as EventPage
from flightlog.services.event_paging import event_page as event_page
from flightlog.services.event_paging import list_events as list_events
from flightlog.services.ownership import assert_owned

DEFAULT_MAX_PAYLOAD_BYTES = 1_048_576
#: OpenTelemetry ids as the OTLP receivers store them: lowercase hex, 16 and 8 bytes.
TRACE_ID_PATTERN = r"^[0-9a-f]{32}$"
SPAN_ID_PATTERN = r"^[0-9a-f]{16}$"


class NewEvent(BaseModel):
    """An event to append; the database assigns ``id``.

    ``created_at`` defaults to the database clock. A caller that replays or
    imports history (the seeder, a backfill from another system) may give the
    original time instead; it must be timezone-aware so no reader has to guess
    what a naive time meant. Ids still grow in insertion order, so keyset
    pages stay stable whatever times are given.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_type: EventType
    content: str | None = None
    data: dict[str, Any] | None = None
    severity: EventSeverity = EventSeverity.INFO
    agent_role: str | None = Field(default=None, max_length=100)
    customer_id: uuid.UUID | None = None
    task_id: uuid.UUID | None = None
    run_id: uuid.UUID | None = None
    agent_run_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None
    parent_event_id: int | None = Field(default=None, ge=1, le=MAX_EVENT_ID)
    entity_type: str | None = Field(default=None, max_length=64)
    entity_id: str | None = Field(default=None, max_length=64)
    actor: str | None = Field(default=None, max_length=255)
    trace_id: str | None = Field(default=None, pattern=TRACE_ID_PATTERN)
    span_id: str | None = Field(default=None, pattern=SPAN_ID_PATTERN)
    created_at: AwareDatetime | None = None


def payload_size(event: NewEvent) -> int:
    """Bytes of user payload (content and data) an event carries."""
    size = len(event.content.encode()) if event.content else 0
    if event.data is not None:
        size += len(json.dumps(event.data, separators=(",", ":"), default=str).encode())
    return size


def validate_event(
    raw: NewEvent | dict[str, Any],
    *,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    index: int | None = None,
) -> NewEvent:
    """Validate one event, naming its position in a batch when it fails."""
    where = f"event #{index}" if index is not None else "event"
    try:
        event = raw if isinstance(raw, NewEvent) else NewEvent.model_validate(raw)
    except PydanticValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ValidationError(f"Invalid {where}: {problems}", index=index) from None
    size = payload_size(event)
    if size > max_payload_bytes:
        raise ValidationError(
            f"{where.capitalize()} payload is {size:,} bytes; the limit is "
            f"{max_payload_bytes:,} (FLIGHTLOG_MAX_EVENT_PAYLOAD_BYTES). "
            "Store large outputs as an artifact and reference it from the event.",
            index=index,
            size=size,
            limit=max_payload_bytes,
        )
    return event


def _row(event: NewEvent, clock: datetime | None = None) -> dict[str, Any]:
    """Column values of ``event``; without a time, ``clock`` or the column default."""
    row = event.model_dump()
    if row["created_at"] is None:
        if clock is None:
            row.pop("created_at")
        else:
            row["created_at"] = clock
    return row


def append(
    session: Session,
    event: NewEvent | dict[str, Any],
    *,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
) -> Event:
    """Append one event as given (its ``customer_id`` included) and return it with its id."""
    return _add(session, validate_event(event, max_payload_bytes=max_payload_bytes))


def _add(session: Session, valid: NewEvent) -> Event:
    row = Event(**_row(valid))
    session.add(row)
    session.flush()
    return row


def append_event(
    session: Session,
    customer_id: uuid.UUID,
    max_payload_bytes: int,
    /,
    event: NewEvent | dict[str, Any],
) -> Event:
    """Append one event of the customer and return it with its id.

    The event's ``customer_id`` becomes the customer. Every task, run, agent
    run, agent and parent event it names must be the customer's, else
    :class:`NotFound`. ``max_payload_bytes`` is the payload limit; the Store
    passes its own (``FLIGHTLOG_MAX_EVENT_PAYLOAD_BYTES``).
    """
    valid = validate_event(event, max_payload_bytes=max_payload_bytes).model_copy(
        update={"customer_id": customer_id}
    )
    assert_owned(
        session,
        customer_id,
        task_ids=[valid.task_id],
        run_ids=[valid.run_id],
        agent_run_ids=[valid.agent_run_id],
        agent_ids=[valid.agent_id],
        event_ids=[valid.parent_event_id],
    )
    return _add(session, valid)


def append_batch(
    session: Session,
    events: Iterable[NewEvent | dict[str, Any]],
    *,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
) -> list[int]:
    """Append events atomically: all are validated before any is written.

    Returns the new ids in input order. One bad event raises
    :class:`ValidationError` naming its index, and nothing is inserted.
    """
    valid = [
        validate_event(raw, max_payload_bytes=max_payload_bytes, index=i)
        for i, raw in enumerate(events)
    ]
    if not valid:
        return []
    clock = None
    timed = sum(event.created_at is not None for event in valid)
    if 0 < timed < len(valid):
        # One executemany needs the same columns in every row: give the untimed
        # events the database clock the column default would have given them.
        clock = session.scalar(select(type_coerce(utcnow(), UtcDateTime())))
    result = session.execute(
        insert(Event).returning(Event.id, sort_by_parameter_order=True),
        [_row(event, clock) for event in valid],
    )
    return [row[0] for row in result.all()]


def record_transition(
    session: Session,
    *,
    entity: str,
    entity_id: uuid.UUID,
    from_status: str | None,
    to_status: str,
    customer_id: uuid.UUID | None = None,
    task_id: uuid.UUID | None = None,
    run_id: uuid.UUID | None = None,
    agent_run_id: uuid.UUID | None = None,
    agent_id: uuid.UUID | None = None,
    actor: str | None = None,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> Event:
    """The audit event every status change writes, in the caller's transaction.

    ``at``: when the change happened, if the caller measured it (else the database clock).
    """
    payload = {"entity": entity, "from": from_status, "to": to_status, **(data or {})}
    row = Event(
        event_type=EventType.STATUS_CHANGE,
        severity=EventSeverity.INFO,
        content=f"{entity} {from_status or 'new'} -> {to_status}",
        data=payload,
        customer_id=customer_id,
        task_id=task_id,
        run_id=run_id,
        agent_run_id=agent_run_id,
        agent_id=agent_id,
        entity_type=entity,
        entity_id=str(entity_id),
        actor=actor,
    )
    if at is not None:
        row.created_at = at
    session.add(row)
    return row


def record_audit(
    session: Session,
    *,
    entity: str,
    entity_id: uuid.UUID,
    action: str,
    content: str,
    customer_id: uuid.UUID | None,
    actor: str | None = None,
    data: dict[str, Any] | None = None,
) -> Event:
    """An audit event for something that is not a status change (created, revoked, deleted)."""
    row = Event(
        event_type=EventType.AUDIT,
        severity=EventSeverity.INFO,
        content=content,
        data={"action": action, **(data or {})},
        customer_id=customer_id,
        entity_type=entity,
        entity_id=str(entity_id),
        actor=actor,
    )
    session.add(row)
    return row

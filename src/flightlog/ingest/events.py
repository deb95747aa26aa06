"""Batch ingest of events: validate fast, check tenancy per chunk, COPY or executemany.

Validation accepts and rejects exactly what :func:`flightlog.services.events.validate_event`
(the ``NewEvent`` model plus the payload limit) does, with the same error
messages. Running pydantic per row would cost more than the database's own
insert, so plain dicts of the usual types are checked by hand; anything
unusual, and every row the fast check would reject, goes through the model,
which then decides and words the error. A property test holds the two equal.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from flightlog.enums import EventSeverity, EventType
from flightlog.errors import ValidationError
from flightlog.ingest._codec import Codec
from flightlog.ingest._pipeline import (
    DEFAULT_CHUNK_SIZE,
    Owners,
    Row,
    Stream,
    ingest,
    session_codec,
)
from flightlog.services._common import time_in_range, whole_unit
from flightlog.services.events import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    MAX_EVENT_ID,
    SPAN_ID_PATTERN,
    TRACE_ID_PATTERN,
    NewEvent,
    validate_event,
)

#: Column order of a prepared event row (``id`` comes from the database, and
#: ``created_at`` too when the event does not give one).
EVENT_COLUMNS = (
    "customer_id",
    "task_id",
    "run_id",
    "agent_run_id",
    "agent_id",
    "parent_event_id",
    "event_type",
    "severity",
    "agent_role",
    "content",
    "data",
    "entity_type",
    "entity_id",
    "actor",
    "trace_id",
    "span_id",
    "created_at",
)
EVENTS = Stream(
    table="events",
    columns=EVENT_COLUMNS,
    references=(
        ("task_ids", 1),
        ("run_ids", 2),
        ("agent_run_ids", 3),
        ("agent_ids", 4),
        ("event_ids", 5),
    ),
    clock_column=16,
)

_FIELDS = frozenset(NewEvent.model_fields)
_UUID_FIELDS = ("customer_id", "task_id", "run_id", "agent_run_id", "agent_id")
_TEXT_LIMITS = (("agent_role", 100), ("entity_type", 64), ("entity_id", 64), ("actor", 255))
#: Optional fields held to a pattern: (name, compiled pattern of NewEvent's field).
_PATTERNED = (
    ("trace_id", re.compile(TRACE_ID_PATTERN)),
    ("span_id", re.compile(SPAN_ID_PATTERN)),
)
_EVENT_TYPES = {member.value: member.value for member in EventType}
_SEVERITIES = {member.value: member.value for member in EventSeverity}
_UUID_TEXT = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_ABSENT = object()
#: What the fast checks return for an input only the model can judge.
UNDECIDED = object()
_UUID = uuid.UUID
#: ``json.dumps`` as the engines' JSON serializer calls it (NaN refused), minus
#: the per-call keyword handling.
encode_json = json.JSONEncoder(allow_nan=False).encode
_dumps = json.dumps


def enum_value(enum_cls: Any, values: dict[str, str], value: Any) -> str | None:
    """The stored value of an enum input, or None when the model must decide."""
    if type(value) is str:
        hit = values.get(value)
        if hit is not None:
            return hit
        try:
            # The enum's own lookup, with its case-insensitive and alias spellings.
            member: str = enum_cls(value).value
        except ValueError:
            return None
        return member
    if isinstance(value, enum_cls):
        stored: str = value.value
        return stored
    return None


def uuid_value(value: Any, codec: Codec) -> Any:
    """A UUID input in driver form, ``None`` for None, or ``UNDECIDED``.

    Subclasses count: ids read back through asyncpg are its own ``UUID`` subclass.
    """
    if value is None:
        return None
    if isinstance(value, _UUID):
        return codec.encode_uuid(value)
    if type(value) is str and len(value) == 36 and _UUID_TEXT.fullmatch(value):
        return codec.encode_uuid_text(value)
    return UNDECIDED


def json_text(value: dict[str, Any]) -> str | None:
    """``value`` as SQLAlchemy's JSON type would store it, or None if it cannot be."""
    try:
        return encode_json(value)
    except (TypeError, ValueError, RecursionError):
        return None


def utf8_length(text: str) -> int | None:
    if text.isascii():
        return len(text)
    try:
        return len(text.encode())
    except UnicodeEncodeError:
        return None


def _payload_fits(content_bytes: int, data: dict[str, Any], stored: str, limit: int) -> bool:
    # The limit counts compact JSON; the stored text (default separators, ASCII) is
    # never shorter, so only a row near the limit needs the exact compact size.
    if content_bytes + len(stored) <= limit:
        return True
    compact = _dumps(data, separators=(",", ":"), default=str)
    return content_bytes + len(compact) <= limit


def fast_event(raw: Any, codec: Codec, customer: Any, limit: int) -> Row | None:
    """The prepared row of a plain-dict event, or None when the model must decide."""
    if type(raw) is not dict or not _FIELDS.issuperset(raw):
        return None
    get = raw.get
    event_type = enum_value(EventType, _EVENT_TYPES, get("event_type"))
    if event_type is None:
        return None
    severity: str | None = "INFO"
    given = get("severity", _ABSENT)
    if given is not _ABSENT:
        severity = enum_value(EventSeverity, _SEVERITIES, given)
        if severity is None:
            return None
    for name, length in _TEXT_LIMITS:
        text = get(name)
        if text is not None and (type(text) is not str or len(text) > length):
            return None
    for name, pattern in _PATTERNED:
        text = get(name)
        if text is not None and (type(text) is not str or pattern.fullmatch(text) is None):
            return None
    encode = codec.encode_uuid
    ids: list[Any] = []
    for name in _UUID_FIELDS:
        value = get(name)
        if value is None:
            ids.append(None)
        elif type(value) is _UUID or isinstance(value, _UUID):
            ids.append(encode(value))
        else:
            value = uuid_value(value, codec)
            if value is UNDECIDED:
                return None
            ids.append(value)
    parent = get("parent_event_id")
    if parent is not None and (type(parent) is not int or not 0 < parent <= MAX_EVENT_ID):
        return None
    content = get("content")
    content_bytes = 0
    if content is not None:
        if type(content) is not str:
            return None
        size = utf8_length(content)
        if size is None:
            return None
        content_bytes = size
    data = get("data")
    if data is None:
        stored = "null"
    elif type(data) is dict:
        for key in data:
            if type(key) is not str:
                return None
        stored_or_none = json_text(data)
        if stored_or_none is None:
            return None
        stored = stored_or_none
        if not _payload_fits(content_bytes, data, stored, limit):
            return None
    else:
        return None
    if content_bytes > limit:
        return None
    at = get("created_at")
    if at is not None:
        if type(at) is not datetime or at.tzinfo is None or not time_in_range(at):
            return None
        at = codec.encode_time(at)
    return (
        customer,
        ids[1],
        ids[2],
        ids[3],
        ids[4],
        parent,
        event_type,
        severity,
        get("agent_role"),
        content,
        stored,
        get("entity_type"),
        get("entity_id"),
        get("actor"),
        get("trace_id"),
        get("span_id"),
        at,
    )


def model_row(event: NewEvent, codec: Codec, customer: Any, index: int | None) -> Row:
    stored = "null"
    if event.data is not None:
        text = json_text(event.data)
        if text is None:
            where = f"event #{index}" if index is not None else "event"
            raise ValidationError(f"Invalid {where}: data: cannot be stored as JSON", index=index)
        stored = text

    def driver_id(value: uuid.UUID | None) -> Any:
        return None if value is None else codec.encode_uuid(value)

    return (
        customer,
        driver_id(event.task_id),
        driver_id(event.run_id),
        driver_id(event.agent_run_id),
        driver_id(event.agent_id),
        event.parent_event_id,
        event.event_type.value,
        event.severity.value,
        event.agent_role,
        event.content,
        stored,
        event.entity_type,
        event.entity_id,
        event.actor,
        event.trace_id,
        event.span_id,
        None if event.created_at is None else codec.encode_time(event.created_at),
    )


def event_preparer(
    codec: Codec, customer_id: uuid.UUID, max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
) -> Callable[[Any, int | None], Row]:
    """``prepare(raw, index)`` for one tenant and limit, with the constants bound once.

    ``prepare`` validates one event and returns its row in driver form. It
    raises :class:`ValidationError` (naming ``#index`` when one is given)
    exactly when :func:`validate_event` would; a ``customer_id`` in the input
    is validated, then replaced by the caller's tenant, as the Store always did.
    """
    customer = codec.encode_uuid(customer_id)

    def prepare(raw: Any, index: int | None) -> Row:
        row = fast_event(raw, codec, customer, max_payload_bytes)
        if row is not None:
            return row
        valid = validate_event(raw, max_payload_bytes=max_payload_bytes, index=index)
        return model_row(valid, codec, customer, index)

    return prepare


def _ingest(
    session: Session,
    customer_id: uuid.UUID,
    max_payload_bytes: int,
    events: Iterable[NewEvent | dict[str, Any]],
    *,
    chunk_size: int,
    ids: list[int] | None,
) -> int:
    codec = session_codec(session)
    return ingest(
        session,
        events,
        stream=EVENTS,
        prepare=event_preparer(codec, customer_id, max_payload_bytes),
        owners=Owners(EVENTS, customer_id, codec),
        chunk_size=chunk_size,
        ids=ids,
        savepoint=not whole_unit(session, ingest_events, ingest_events_returning_ids),
    )


def ingest_events(
    session: Session,
    customer_id: uuid.UUID,
    max_payload_bytes: int,
    /,
    events: Iterable[NewEvent | dict[str, Any]],
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> int:
    """Append a stream of events for ``customer_id`` atomically; return how many.

    ``max_payload_bytes`` is the payload limit: the Store passes its
    ``FLIGHTLOG_MAX_EVENT_PAYLOAD_BYTES``, whose default is
    ``DEFAULT_MAX_PAYLOAD_BYTES``.

    The iterable is consumed ``chunk_size`` at a time, so a generator of
    millions of events runs in flat memory. Each chunk's referenced task,
    run and agent-run ids must belong to the customer (else
    :class:`NotFound`). Any invalid event raises :class:`ValidationError`
    naming its ``#index`` and nothing of this call stays written. Runs in the
    caller's transaction and never commits.
    """
    return _ingest(session, customer_id, max_payload_bytes, events, chunk_size=chunk_size, ids=None)


def ingest_events_returning_ids(
    session: Session,
    customer_id: uuid.UUID,
    max_payload_bytes: int,
    /,
    events: Iterable[NewEvent | dict[str, Any]],
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> list[int]:
    """:func:`ingest_events`, returning the new ids in input order.

    The ids are known because they are drawn before the COPY on PostgreSQL
    (one ``nextval`` query per chunk) and are consecutive per statement on
    SQLite; the list grows with the input, so prefer :func:`ingest_events`
    for unbounded streams.
    """
    ids: list[int] = []
    _ingest(session, customer_id, max_payload_bytes, events, chunk_size=chunk_size, ids=ids)
    return ids

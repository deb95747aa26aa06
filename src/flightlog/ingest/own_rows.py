"""Writing rows a Flightlog service built itself: no second validation, no tenancy queries.

The batch path (:mod:`flightlog.ingest.events`) checks every field of every row and
the tenant of every id it refers to, because its rows come from callers. OpenTelemetry
ingest builds its event rows from spans it has already decoded, cleaned and bounded,
under run and agent-run ids it drew itself or read from the customer's own span
ledger in the same transaction. Checking those again cost about a quarter of span
ingest's time (a profile of 100,000 spans), so these rows go straight to the same
writers (COPY on PostgreSQL, one ``executemany`` on SQLite).

What can still be wrong with such a row (a payload over the limit, data the JSON
encoder refuses) is found here and handed to the batch path's own validation, so the
error is word for word the one the batch path gives.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy.orm import Session

from flightlog.enums import EventSeverity, EventType
from flightlog.ingest._pipeline import Row, Stream, open_writer, session_codec
from flightlog.ingest.events import (
    EVENTS,
    encode_json,
    event_preparer,
    utf8_length,
)

#: A member of an event's data already encoded: (key, value, its JSON as ``encode_json``
#: writes it), spliced into the stored text rather than encoded again.
Inline = tuple[str, object, str]


class OwnEvent(TypedDict):
    """An event a service built: the batch path's fields it uses, already in range."""

    event_type: EventType
    severity: EventSeverity
    content: str
    data: dict[str, Any]
    #: More members of ``data``, already encoded.
    inline: Sequence[Inline]
    task_id: uuid.UUID
    run_id: uuid.UUID
    agent_run_id: uuid.UUID | None
    agent_role: str | None
    created_at: datetime
    trace_id: str
    span_id: str


def write_own_events(
    session: Session, customer_id: uuid.UUID, max_payload_bytes: int, events: Sequence[OwnEvent]
) -> None:
    """Insert ``events`` in the session's transaction (no savepoint of its own).

    Raises :class:`~flightlog.errors.ValidationError`, exactly as
    :func:`~flightlog.ingest.events.ingest_events` would, for an event whose
    payload is over ``max_payload_bytes`` or cannot be stored as JSON.
    """
    if not events:
        return
    codec = session_codec(session)
    customer = codec.encode_uuid(customer_id)
    encode_uuid = codec.encode_uuid
    encode_time = codec.encode_time
    rows: list[Row] = []
    for index, event in enumerate(events):
        data = event["data"]
        content = event["content"]
        inline = event["inline"]
        stored: str | None
        try:
            stored = encode_json(data)
        except (TypeError, ValueError, RecursionError):
            stored = None
        if stored is not None and inline:
            stored = _spliced(stored, inline)
        size = utf8_length(content)
        if stored is None or size is None or size + len(stored) > max_payload_bytes:
            # Not plainly within the limit (the stored text is never shorter than the
            # compact JSON the limit counts): the batch path decides, and words the
            # refusal, or finds the row fine after all and prepares it.
            prepare = event_preparer(codec, customer_id, max_payload_bytes)
            whole = {key: value for key, value in event.items() if key != "inline"}
            whole["data"] = {**data, **{key: value for key, value, _ in inline}}
            rows.append(prepare(whole, index))
            continue
        agent_run_id = event["agent_run_id"]
        rows.append(
            (
                customer,
                encode_uuid(event["task_id"]),
                encode_uuid(event["run_id"]),
                None if agent_run_id is None else encode_uuid(agent_run_id),
                None,
                None,
                event["event_type"].value,
                event["severity"].value,
                event["agent_role"],
                content,
                stored,
                None,
                None,
                None,
                event["trace_id"],
                event["span_id"],
                encode_time(event["created_at"]),
            )
        )
    open_writer(session, EVENTS).write(rows, None)


def uuid_encoder(session: Session) -> Callable[[uuid.UUID], Any]:
    """How the session's driver takes a UUID (native on PostgreSQL, hex text on SQLite)."""
    return session_codec(session).encode_uuid


def _spliced(stored: str, members: Sequence[Inline]) -> str:
    """``stored`` (a JSON object's text) with ``members`` added at its end.

    Their keys are names a service chose (``messages``, ``result``): plain text that
    JSON writes as it is.

    What ``encode_json`` writes for a dict is its members' encodings in order, so
    this is the text of the whole dict, without encoding the members again.
    """
    added = ", ".join(f'"{key}": {text}' for key, _, text in members)
    return f"{stored[:-1]}, {added}}}" if stored != "{}" else f"{{{added}}}"


def write_own_rows(
    session: Session, table: str, columns: tuple[str, ...], rows: Sequence[Row]
) -> None:
    """Insert rows a service built, already in the driver's form (see :func:`uuid_encoder`;
    JSON as text), into ``table``'s ``columns``; columns left out take their defaults."""
    if rows:
        stream = Stream(table=table, columns=columns, references=())
        open_writer(session, stream).write(list(rows), None)

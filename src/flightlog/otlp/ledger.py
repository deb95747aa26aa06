"""The span ledger (``otlp_spans``): what was received, what it became, what still waits.

Every span a customer sends gets one row keyed by (customer, trace id, span
id), so a re-delivered span finds its row and changes nothing. A span whose
parent has not arrived keeps its whole content in ``pending`` until the
parent comes; a recorded span keeps only where its children attach (its run
and its enclosing agent run).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, null, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from flightlog.db.base import table_of
from flightlog.ingest.events import encode_json
from flightlog.ingest.own_rows import uuid_encoder, write_own_rows
from flightlog.models import AgentRun, OtlpSpan, TaskRun
from flightlog.otlp.spans import AttrValue, Span, SpanEvent, SpanKind, StatusCode
from flightlog.services._common import chunks
from flightlog.services._dialect import lock_names_for_customer

#: The ledger's columns a new span fills (``received_at`` takes its default).
LEDGER_COLUMNS = (
    "customer_id",
    "trace_id",
    "span_id",
    "parent_span_id",
    "run_id",
    "agent_run_id",
    "pending",
)


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a recorded span's children attach: its run, task and enclosing agent run."""

    run_id: uuid.UUID
    task_id: uuid.UUID
    agent_run_id: uuid.UUID | None
    agent_name: str | None = None


@dataclass(slots=True)
class TraceState:
    """What the ledger knows of one trace before this request's spans are added."""

    recorded: dict[str, Placement | None] = field(default_factory=dict)
    pending: dict[str, Span] = field(default_factory=dict)
    run: Placement | None = None


def lock_traces(session: Session, customer_id: uuid.UUID, trace_ids: Iterable[str]) -> None:
    """Serialise span ingest per trace of the customer (PostgreSQL; SQLite has one writer).

    Concurrent requests carrying parts of one trace must produce exactly what
    one request would: one run, each span once, children under their parents.
    They queue on the trace's lock (taken, with the request's other traces', in
    one order); requests for other traces go on beside them up to the short tail
    where runs are numbered under their tasks' locks (decision 0024). A request
    of more traces than :data:`~flightlog.services._dialect.NAME_LOCKS` runs
    alone among the customer's span requests instead.
    """
    lock_names_for_customer(session, "otlp-trace", customer_id, trace_ids)


def load(
    session: Session, customer_id: uuid.UUID, trace_ids: Iterable[str]
) -> dict[str, TraceState]:
    """The ledger's rows for these traces of the customer, by trace id."""
    wanted = sorted(set(trace_ids))
    states: dict[str, TraceState] = {trace_id: TraceState() for trace_id in wanted}
    if not wanted:
        return states
    stmt = select(
        OtlpSpan.trace_id,
        OtlpSpan.span_id,
        OtlpSpan.parent_span_id,
        OtlpSpan.run_id,
        OtlpSpan.agent_run_id,
        OtlpSpan.pending,
    ).where(OtlpSpan.customer_id == customer_id)
    rows = [
        row
        for part in chunks(wanted)
        for row in session.execute(stmt.where(OtlpSpan.trace_id.in_(part))).all()
    ]
    task_of_run = _column_of(session, TaskRun.task_id, {r.run_id for r in rows if r.run_id})
    name_of = _column_of(
        session, AgentRun.agent_name, {r.agent_run_id for r in rows if r.agent_run_id}
    )
    for row in rows:
        state = states[row.trace_id]
        if row.pending is not None:
            state.pending[row.span_id] = span_from_json(row.pending)
        elif row.run_id is not None and row.run_id in task_of_run:
            step: uuid.UUID | None = row.agent_run_id if row.agent_run_id in name_of else None
            task_id = task_of_run[row.run_id]
            placement = Placement(row.run_id, task_id, step, name_of[step] if step else None)
            state.recorded[row.span_id] = placement
            if row.parent_span_id is None:
                # The root's placement is the run's: its top agent step takes a late root.
                state.run = placement
            elif state.run is None:
                state.run = Placement(row.run_id, task_id, None)
        else:
            # Its run (with its task) was deleted since: the row went with it, so a
            # re-delivery is recorded afresh; a row left here is only a no-op marker.
            state.recorded[row.span_id] = None
    return states


def _column_of(
    session: Session, column: InstrumentedAttribute[Any], ids: set[uuid.UUID]
) -> dict[uuid.UUID, Any]:
    """``column`` of the rows of its table with these ids, by id (chunked)."""
    model = column.class_
    found: dict[uuid.UUID, Any] = {}
    for part in chunks(sorted(ids)):
        rows = session.execute(select(model.id, column).where(model.id.in_(part))).all()
        found.update((row[0], row[1]) for row in rows)
    return found


def write(
    session: Session,
    customer_id: uuid.UUID,
    *,
    new: Sequence[tuple[Span, Placement | None]],
    resolved_pending: Sequence[tuple[Span, Placement]],
) -> None:
    """Add this request's spans to the ledger and settle the pending ones now recorded."""
    # One COPY / executemany of rows in the driver's form (flightlog.ingest.own_rows):
    # a recorded span's ``pending`` is SQL NULL, a waiting span's its JSON text.
    encode = uuid_encoder(session)
    customer = encode(customer_id)
    rows = [
        (
            customer,
            span.trace_id,
            span.span_id,
            span.parent_span_id,
            encode(placement.run_id) if placement else None,
            encode(placement.agent_run_id) if placement and placement.agent_run_id else None,
            None if placement else encode_json(span_to_json(span)),
        )
        for span, placement in new
    ]
    write_own_rows(session, "otlp_spans", LEDGER_COLUMNS, rows)
    table = table_of(OtlpSpan)
    connection = session.connection()
    if resolved_pending:
        key = table.c
        connection.execute(
            update(table)
            .where(
                key.customer_id == bindparam("b_customer"),
                key.trace_id == bindparam("b_trace"),
                key.span_id == bindparam("b_span"),
            )
            .values(pending=null(), run_id=bindparam("b_run"), agent_run_id=bindparam("b_agent")),
            [
                {
                    "b_customer": customer_id,
                    "b_trace": span.trace_id,
                    "b_span": span.span_id,
                    "b_run": placement.run_id,
                    "b_agent": placement.agent_run_id,
                }
                for span, placement in resolved_pending
            ],
        )


def clean_text(value: str) -> str:
    """Text a database can store: no NUL (PostgreSQL refuses it), no lone surrogates."""
    if value.isascii():
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def _to_json(value: AttrValue) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, bytes):
        return {"$bytes": value.hex()}
    if isinstance(value, tuple):
        return [_to_json(item) for item in value]
    if isinstance(value, dict):
        return {"$map": {clean_text(key): _to_json(item) for key, item in value.items()}}
    if isinstance(value, float) and value != value:
        return {"$float": "nan"}
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return {"$float": "inf" if value > 0 else "-inf"}
    return value


def _from_json(value: Any) -> AttrValue:
    if isinstance(value, list):
        return tuple(_from_json(item) for item in value)
    if isinstance(value, dict):
        if "$bytes" in value:
            return bytes.fromhex(value["$bytes"])
        if "$float" in value:
            return float(value["$float"])
        return {key: _from_json(item) for key, item in value.get("$map", {}).items()}
    result: AttrValue = value
    return result


def _attributes_to_json(attributes: Any) -> dict[str, Any]:
    return {clean_text(key): _to_json(value) for key, value in attributes.items()}


def _attributes_from_json(document: dict[str, Any]) -> dict[str, AttrValue]:
    return {key: _from_json(value) for key, value in document.items()}


def span_to_json(span: Span) -> dict[str, Any]:
    """A span as the JSON the ledger keeps while it waits for its parent (lossless)."""
    return {
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "name": clean_text(span.name),
        "kind": int(span.kind),
        "start": span.start_time_unix_nano,
        "end": span.end_time_unix_nano,
        "attributes": _attributes_to_json(span.attributes),
        "events": [
            [clean_text(event.name), event.time_unix_nano, _attributes_to_json(event.attributes)]
            for event in span.events
        ],
        "status": [int(span.status_code), clean_text(span.status_message)],
        "resource": _attributes_to_json(span.resource),
        "scope": clean_text(span.scope_name),
    }


def span_from_json(document: dict[str, Any]) -> Span:
    """The span :func:`span_to_json` kept."""
    return Span(
        trace_id=document["trace_id"],
        span_id=document["span_id"],
        parent_span_id=document["parent_span_id"],
        name=document["name"],
        kind=SpanKind(document["kind"]),
        start_time_unix_nano=int(document["start"]),
        end_time_unix_nano=int(document["end"]),
        attributes=_attributes_from_json(document["attributes"]),
        events=tuple(
            SpanEvent(name, int(at), _attributes_from_json(attributes))
            for name, at, attributes in document["events"]
        ),
        status_code=StatusCode(document["status"][0]),
        status_message=document["status"][1],
        resource=_attributes_from_json(document["resource"]),
        scope_name=document["scope"],
    )

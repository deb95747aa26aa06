"""Recording a batch of spans: dedupe, wait for parents, write the record, once.

:func:`record_spans` is the service behind ``POST /v1/traces`` (and
``store.traces.record``). Per trace, in a savepoint of the caller's
transaction: spans already in the ledger are skipped (a re-delivery changes
nothing); the trace's root, once here, becomes a run; every span whose
parent is recorded is recorded, its own children after it, however the
exporter split and ordered them; spans whose parent has not arrived wait in
the ledger. A trace that cannot be recorded (it names another tenant's
task, its times are impossible) is rejected whole, and the others are kept.
The events of the whole batch are written in one batch insert (COPY on
PostgreSQL) at the end.
"""

from __future__ import annotations

import uuid
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from flightlog.errors import FlightlogError
from flightlog.ingest.events import ingest_events
from flightlog.otlp import ledger, mapping
from flightlog.otlp.ledger import Placement, TraceState
from flightlog.otlp.prices import PriceTable, load_price_table
from flightlog.otlp.records import Limits, TraceWriter
from flightlog.otlp.spans import Rejected, Span


@dataclass(slots=True)
class SpansRecorded:
    """What became of a batch: spans accepted (recorded or waiting), and those rejected."""

    accepted: int = 0
    duplicates: int = 0
    waiting: int = 0
    rejected: list[Rejected] = field(default_factory=list)


def record_spans(
    session: Session,
    customer_id: uuid.UUID,
    limits: Limits,
    /,
    spans: Sequence[Span],
) -> SpansRecorded:
    """Record OpenTelemetry spans as runs, agent runs and events (see the module docstring)."""
    result = SpansRecorded()
    if not spans:
        return result
    ledger.lock_customer(session, customer_id)
    by_trace: dict[str, dict[str, Span]] = defaultdict(dict)
    for span in spans:
        if span.span_id in by_trace[span.trace_id]:
            result.duplicates += 1
        else:
            by_trace[span.trace_id][span.span_id] = span
    states = ledger.load(session, customer_id, by_trace)
    prices = load_price_table(session)
    events: list[dict[str, object]] = []
    for trace_id in sorted(by_trace):
        state = states[trace_id]
        fresh = {
            span_id: span
            for span_id, span in by_trace[trace_id].items()
            if span_id not in state.recorded and span_id not in state.pending
        }
        result.duplicates += len(by_trace[trace_id]) - len(fresh)
        if not fresh:
            continue
        try:
            with session.begin_nested():
                writer = TraceWriter(session, customer_id, limits, prices)
                waiting = _record_trace(session, customer_id, writer, state, fresh)
                writer.close()
        except FlightlogError as exc:
            reason = f"trace {trace_id}: {exc}"
            result.rejected.extend(Rejected(f"span {s}", reason) for s in fresh)
            continue
        events.extend(writer.events)
        result.accepted += len(fresh)
        result.waiting += waiting
    if events:
        ingest_events(session, customer_id, limits.max_payload_bytes, events)
    return result


def _record_trace(
    session: Session,
    customer_id: uuid.UUID,
    writer: TraceWriter,
    state: TraceState,
    fresh: dict[str, Span],
) -> int:
    """Record what can be recorded of one trace; return how many spans still wait."""
    candidates = {**state.pending, **fresh}
    children: dict[str | None, list[Span]] = defaultdict(list)
    for span in candidates.values():
        parent_id = span.parent_span_id
        if (
            parent_id is not None
            and parent_id not in candidates
            and parent_id not in state.recorded
        ):
            continue  # its parent has not arrived: it waits
        children[parent_id].append(span)
    for siblings in children.values():
        siblings.sort(key=lambda s: (s.start_time_unix_nano, s.span_id))
    placed: dict[str, Placement] = {}
    queue: deque[tuple[Span, Placement]] = deque()
    roots = children.pop(None, [])
    run = state.run
    for root in roots:
        if run is None:
            run = writer.start_run(root, _conversation(root, candidates))
            placed[root.span_id] = run
        else:  # a second root of a trace already recorded: under the run's top step
            placed[root.span_id] = writer.place(root, run)
        queue.extend((child, placed[root.span_id]) for child in children.pop(root.span_id, []))
    for span_id, placement in state.recorded.items():
        if placement is not None:
            queue.extend((child, placement) for child in children.pop(span_id, []))
    while queue:
        span, parent = queue.popleft()
        placed[span.span_id] = writer.place(span, parent)
        queue.extend((child, placed[span.span_id]) for child in children.pop(span.span_id, []))
    ledger.write(
        session,
        customer_id,
        new=[(span, placed.get(span.span_id)) for span in fresh.values()],
        resolved_pending=[
            (span, placed[span.span_id])
            for span in state.pending.values()
            if span.span_id in placed
        ],
    )
    return sum(1 for span_id in candidates if span_id not in placed)


def _conversation(root: Span, candidates: dict[str, Span]) -> str | None:
    """The root's conversation, else the earliest span's that names one."""
    found = mapping.conversation(root)
    if found:
        return found
    for span in sorted(candidates.values(), key=lambda s: (s.start_time_unix_nano, s.span_id)):
        found = mapping.conversation(span)
        if found:
            return found
    return None


__all__ = ["Limits", "PriceTable", "SpansRecorded", "record_spans"]

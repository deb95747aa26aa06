"""Looking a record up by the OpenTelemetry trace (and span) it was recorded from.

Someone holding a trace id from their own tracing (a log line, another
backend) finds what Flightlog made of it: the run, its agent steps and
events, and how many of the trace's spans still wait for a parent.
Tenancy goes through the span ledger, which is per customer, so another
customer's trace is indistinguishable from one never sent.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flightlog.errors import NotFound, ValidationError
from flightlog.models import AgentRun, Event, OtlpSpan, TaskRun
from flightlog.services.events import SPAN_ID_PATTERN, TRACE_ID_PATTERN

#: At most this many events come back with a trace; the rest are a page away
#: (``events.list(run_id=…)``).
MAX_TRACE_EVENTS = 1000


@dataclass(frozen=True)
class TraceRecord:
    """What a trace (or one span of it) became."""

    trace_id: str
    run: TaskRun | None
    agent_runs: list[AgentRun]
    events: list[Event]
    waiting_spans: int


def _checked(value: str, pattern: str, name: str) -> str:
    lowered = value.strip().lower()
    if re.fullmatch(pattern.strip("^$"), lowered) is None:
        size = 32 if name == "trace_id" else 16
        raise ValidationError(f"{name} must be {size} hexadecimal characters, got {value[:64]!r}")
    return lowered


def get_trace(
    session: Session,
    customer_id: uuid.UUID,
    /,
    trace_id: str,
    *,
    span_id: str | None = None,
) -> TraceRecord:
    """The run, agent runs and events recorded from a trace (or only from ``span_id``)."""
    trace_id = _checked(trace_id, TRACE_ID_PATTERN, "trace_id")
    span_id = _checked(span_id, SPAN_ID_PATTERN, "span_id") if span_id is not None else None
    ledger = (OtlpSpan.customer_id == customer_id) & (OtlpSpan.trace_id == trace_id)
    received, waiting = session.execute(
        select(func.count(), func.count(OtlpSpan.pending)).where(ledger)
    ).one()
    if not received:
        raise NotFound(f"no trace {trace_id} was received")
    run_id = session.scalar(
        select(OtlpSpan.run_id).where(ledger, OtlpSpan.run_id.is_not(None)).limit(1)
    )
    run = session.get(TaskRun, run_id) if run_id is not None else None
    if run is None:
        return TraceRecord(trace_id, None, [], [], int(waiting))
    steps = select(AgentRun).where(AgentRun.run_id == run.id, AgentRun.trace_id == trace_id)
    events = select(Event).where(Event.run_id == run.id, Event.trace_id == trace_id)
    if span_id is not None:
        steps = steps.where(AgentRun.span_id == span_id)
        events = events.where(Event.span_id == span_id)
    return TraceRecord(
        trace_id=trace_id,
        run=run,
        agent_runs=list(session.scalars(steps.order_by(AgentRun.started_at, AgentRun.id)).all()),
        events=list(session.scalars(events.order_by(Event.id).limit(MAX_TRACE_EVENTS)).all()),
        waiting_spans=int(waiting),
    )

"""Build OpenTelemetry spans (flightlog.otlp.spans.Span) and read back what they became.

One small GenAI trace stands for a multi-agent run: a planner agent that calls a
model and a tool and hands work to a coder agent, which calls the model twice and
runs a tool. :func:`shape` reduces what a trace became to what must not depend on
how its spans were delivered (ids and run numbers left out).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from flightlog.otlp.spans import Attributes, Span, SpanEvent, SpanKind, StatusCode
from flightlog.store.sync import SyncStore

BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def new_trace_id() -> str:
    return os.urandom(16).hex()


def new_span_id() -> str:
    return os.urandom(8).hex()


def nanos(seconds: float) -> int:
    return int((BASE + timedelta(seconds=seconds)).timestamp() * 1e9)


def make_span(
    trace_id: str,
    name: str,
    attributes: Attributes,
    start: float,
    end: float,
    *,
    parent: Span | None = None,
    span_id: str | None = None,
    status: StatusCode = StatusCode.UNSET,
    message: str = "",
    events: tuple[SpanEvent, ...] = (),
    resource: Attributes | None = None,
) -> Span:
    return Span(
        trace_id=trace_id,
        span_id=span_id or new_span_id(),
        parent_span_id=parent.span_id if parent else None,
        name=name,
        kind=SpanKind.INTERNAL,
        start_time_unix_nano=nanos(start),
        end_time_unix_nano=nanos(end),
        attributes=attributes,
        events=events,
        status_code=status,
        status_message=message,
        resource=resource if resource is not None else {"service.name": "otlp-tests"},
        scope_name="tests",
    )


def agent(trace_id: str, name: str, start: float, end: float, **more: Any) -> Span:
    attributes = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name}
    attributes |= more.pop("attributes", {})
    return make_span(trace_id, f"invoke_agent {name}", attributes, start, end, **more)


def chat(trace_id: str, tokens: tuple[int, int], start: float, end: float, **more: Any) -> Span:
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": tokens[0],
        "gen_ai.usage.output_tokens": tokens[1],
        "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"hi"}]}]',
    }
    attributes |= more.pop("attributes", {})
    return make_span(trace_id, "chat gpt-4o-mini", attributes, start, end, **more)


def tool(trace_id: str, name: str, start: float, end: float, **more: Any) -> Span:
    attributes = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": name,
        "gen_ai.tool.call.arguments": '{"path": "app.py"}',
        "gen_ai.tool.call.result": "ok",
    }
    attributes |= more.pop("attributes", {})
    return make_span(trace_id, f"execute_tool {name}", attributes, start, end, **more)


@dataclass(frozen=True)
class Team:
    """The spans of one planner/coder trace, root first; ``tokens`` is their sum."""

    spans: tuple[Span, ...]
    tokens: tuple[int, int] = (350, 70)

    @property
    def root(self) -> Span:
        return self.spans[0]

    @property
    def trace_id(self) -> str:
        return self.root.trace_id

    def in_end_order(self) -> list[Span]:
        """As an exporter sends them: each span when it ends, so children first."""
        return sorted(self.spans, key=lambda s: (s.end_time_unix_nano, -s.start_time_unix_nano))


def team(conversation: str | None = "conv-1", *, title: str | None = None) -> Team:
    trace_id = new_trace_id()
    extra: dict[str, Any] = {}
    if conversation is not None:
        extra["gen_ai.conversation.id"] = conversation
    if title is not None:
        extra["flightlog.task"] = title
    root = agent(trace_id, "planner", 0, 10, attributes=extra)
    coder = agent(trace_id, "coder", 2, 8, parent=root)
    spans = (
        root,
        chat(trace_id, (100, 20), 1, 2, parent=root),
        coder,
        chat(trace_id, (200, 40), 3, 4, parent=coder),
        tool(trace_id, "run_tests", 4, 5, parent=coder),
        chat(trace_id, (50, 10), 5, 6, parent=coder),
        tool(trace_id, "lookup", 8, 9, parent=root),
    )
    return Team(spans)


def failing(span: Span, message: str) -> Span:
    """The span, failed with an exception event as the SDK records one."""
    exception = SpanEvent(
        "exception",
        span.end_time_unix_nano,
        {"exception.type": "RuntimeError", "exception.message": message},
    )
    return replace(span, status_code=StatusCode.ERROR, status_message=message, events=(exception,))


def shape(store: SyncStore, trace_id: str) -> dict[str, Any]:
    """What a trace became, without ids: equal for every delivery of the same spans."""
    record = store.traces.get(trace_id)
    assert record.run is not None
    run = record.run
    steps = {step.id: step for step in record.agent_runs}
    return {
        "status": run.status.value,
        "tokens": (run.tokens_in, run.tokens_out),
        "cost": str(run.cost_usd),
        "started_at": run.started_at,
        "completed_at": run.completed_at,
        "waiting": record.waiting_spans,
        "agent_runs": sorted(
            (
                step.agent_name,
                steps[step.parent_id].agent_name if step.parent_id else None,
                step.status.value,
                step.tokens_in,
                step.tokens_out,
                step.span_id,
            )
            for step in record.agent_runs
        ),
        "events": sorted(
            (
                event.event_type.value,
                event.span_id,
                steps[event.agent_run_id].agent_name if event.agent_run_id else None,
                event.created_at,
            )
            for event in record.events
        ),
    }


def with_new_ids(original: Team) -> Team:
    """The same trace under a new trace id (span ids kept), for delivering it again afresh."""
    trace_id = new_trace_id()
    return Team(tuple(replace(span, trace_id=trace_id) for span in original.spans))

"""The rows a batch of spans becomes, built in memory before anything is written.

A :class:`RecordBuilder` collects, for every trace of one request, the run a
root becomes, the agent runs, the events (model calls, tool calls, errors), the
usage per agent run and the ledger rows, with ids chosen here. The writer
(:mod:`flightlog.otlp.writer`) then inserts each kind of row in one statement,
so a request of 512 spans costs a few statements, not a few per span.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flightlog.db.types import new_uuid
from flightlog.enums import AgentRunStatus, EventSeverity, EventType, RunStatus
from flightlog.ingest.own_rows import Inline, OwnEvent
from flightlog.otlp import mapping
from flightlog.otlp.ledger import Placement, clean_text
from flightlog.otlp.mapping import Role
from flightlog.otlp.prices import COST_QUANTUM, PriceTable
from flightlog.otlp.readings import (
    Content,
    clean_encoded,
    estimated_cost,
    model_call,
    seconds,
    span_time,
    started_at,
    tool_call,
)
from flightlog.otlp.spans import Span
from flightlog.services.artifacts import BlobPolicy

#: Tag and context marker of what OpenTelemetry ingest creates.
SOURCE = "opentelemetry"


@dataclass(frozen=True, slots=True)
class Limits:
    """How much of a span's content is kept inline; beyond it, content becomes an artifact."""

    policy: BlobPolicy
    max_payload_bytes: int
    inline_content_bytes: int = 16_384


@dataclass(slots=True)
class NewRun:
    """A run to insert: a trace's root span, under a task, in a conversation."""

    id: uuid.UUID
    task_id: uuid.UUID
    root: Span
    conversation: str | None
    top_agent_run_id: uuid.UUID


@dataclass(slots=True)
class LargeContent:
    """Content over the inline limit: becomes an artifact, ``pointer`` is filled with its id."""

    pointer: dict[str, Any]
    span: Span
    what: str
    content: bytes
    task_id: uuid.UUID
    run_id: uuid.UUID


@dataclass(slots=True)
class RecordBuilder:
    """Rows for one request's spans, with their ids; nothing is written here."""

    limits: Limits
    prices: PriceTable
    runs: list[NewRun] = field(default_factory=list)
    agent_runs: list[dict[str, Any]] = field(default_factory=list)
    events: list[OwnEvent] = field(default_factory=list)
    large: list[LargeContent] = field(default_factory=list)
    #: Usage per agent run id: [tokens in, tokens out, cost]; new and earlier agent runs.
    usage: dict[uuid.UUID, list[Any]] = field(default_factory=dict)
    #: The run of every agent run that gained usage or children here.
    run_of: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    _new_agent_runs: set[uuid.UUID] = field(default_factory=set)

    def new_run(self, root: Span, task_id: uuid.UUID, conversation: str | None) -> Placement:
        """The run a root becomes, with its top agent step (the workflow or root agent)."""
        run_id = new_uuid()
        step = self._agent_run(root, run_id, task_id, parent_id=None, top=True)
        self.runs.append(NewRun(run_id, task_id, root, conversation, step))
        placement = Placement(run_id, task_id, step, self.agent_runs[-1]["agent_name"])
        self._error(root, placement)
        return placement

    def place(self, span: Span, parent: Placement) -> Placement:
        """Record one span whose parent is placed; return where its children attach."""
        kind = mapping.role(span)
        placement = parent
        if kind is Role.AGENT:
            step = self._agent_run(span, parent.run_id, parent.task_id, parent.agent_run_id)
            placement = Placement(
                parent.run_id, parent.task_id, step, self.agent_runs[-1]["agent_name"]
            )
        elif kind is Role.MODEL:
            self._model_call(span, parent)
        elif kind is Role.TOOL:
            self._tool_call(span, parent)
        self._error(span, placement)
        return placement

    def new_run_totals(self, run_id: uuid.UUID) -> tuple[int, int, Decimal]:
        """Tokens and cost of a new run: the sums over its (all new) agent runs."""
        tokens_in, tokens_out, cost = 0, 0, Decimal(0)
        for row in self.agent_runs:
            if row["run_id"] == run_id:
                tokens_in += row["tokens_in"]
                tokens_out += row["tokens_out"]
                cost += row["cost_usd"]
        return tokens_in, tokens_out, cost

    def settle_usage(self) -> dict[uuid.UUID, list[Any]]:
        """Fold usage into the new agent rows; return the usage of earlier agent runs."""
        earlier: dict[uuid.UUID, list[Any]] = {}
        rows = {row["id"]: row for row in self.agent_runs}
        for agent_run_id, (tokens_in, tokens_out, cost) in self.usage.items():
            row = rows.get(agent_run_id)
            if row is None:
                earlier[agent_run_id] = [tokens_in, tokens_out, cost]
                continue
            row["tokens_in"] += tokens_in
            row["tokens_out"] += tokens_out
            row["cost_usd"] += cost
        self.usage = {}
        return earlier

    # -- the rows --------------------------------------------------------------------

    def _agent_run(
        self,
        span: Span,
        run_id: uuid.UUID,
        task_id: uuid.UUID,
        parent_id: uuid.UUID | None,
        *,
        top: bool = False,
    ) -> uuid.UUID:
        failure = mapping.error(span)
        named = (
            mapping.agent_name(span)
            if mapping.role(span) is Role.AGENT or not top
            else mapping.bare_name(span)
        )
        details: dict[str, Any] = {"source": SOURCE, "span_name": clean_text(span.name)[:500]}
        handoff = mapping.text(span.attributes.get("graph.node.parent_id"))
        if handoff:
            details["handed_off_by"] = clean_text(handoff)[:100]
        agent_run_id = new_uuid()
        self.agent_runs.append(
            {
                "id": agent_run_id,
                "task_id": task_id,
                "run_id": run_id,
                "parent_id": parent_id,
                "agent_name": clean_text(named)[:100].strip() or "agent",
                "status": AgentRunStatus.FAILED if failure else AgentRunStatus.COMPLETED,
                "started_at": started_at(span),
                "finished_at": span_time(span.end_time_unix_nano),
                "duration_seconds": seconds(span),
                "error_message": clean_text(failure[0])[:10_000] if failure else None,
                "tokens_in": 0,
                "tokens_out": 0,
                "cost_usd": Decimal(0),
                "details": details,
                "trace_id": span.trace_id,
                "span_id": span.span_id,
            }
        )
        self._new_agent_runs.add(agent_run_id)
        self.run_of[agent_run_id] = run_id
        return agent_run_id

    def _event(
        self,
        span: Span,
        placement: Placement,
        event_type: EventType,
        content: str,
        data: dict[str, Any],
        inline: list[Inline],
        severity: EventSeverity = EventSeverity.INFO,
    ) -> None:
        self.events.append(
            {
                "event_type": event_type,
                "severity": severity,
                "content": clean_text(content)[:2000],
                "data": data,
                "inline": inline,
                "task_id": placement.task_id,
                "run_id": placement.run_id,
                "agent_run_id": placement.agent_run_id,
                "agent_role": placement.agent_name,
                "created_at": started_at(span),
                "trace_id": span.trace_id,
                "span_id": span.span_id,
            }
        )

    def _bounded(
        self,
        span: Span,
        placement: Placement,
        what: str,
        content: Content,
        data: dict[str, Any],
        inline: list[Inline],
    ) -> None:
        """Content kept inline when small (spliced in as encoded); otherwise ``data[what]``
        points to the artifact it becomes."""
        if len(content.utf8) <= self.limits.inline_content_bytes:
            inline.append((what, content.value, content.stored))
            return
        pointer: dict[str, Any] = {"artifact_id": None, "bytes": len(content.utf8)}
        self.large.append(
            LargeContent(pointer, span, what, content.utf8, placement.task_id, placement.run_id)
        )
        data[what] = pointer

    def _model_call(self, span: Span, placement: Placement) -> None:
        call = model_call(span)
        usage, model = call.usage, call.model
        data = dict(call.data)
        cost = usage.reported_cost_usd
        if cost is not None:
            # To the 6 decimals cost columns keep, so a run's total is its agent runs' sum.
            cost = cost.quantize(COST_QUANTUM, rounding=ROUND_HALF_UP)
            data |= {"cost_usd": str(cost), "cost_source": "reported"}
        elif model is not None:
            computed = estimated_cost(span, self.prices)
            if computed is not None:
                cost = computed.usd
                data |= {"cost_usd": str(cost), **computed.describe()}
        if call.finish_reasons is not None:
            data["finish_reasons"] = call.finish_reasons
        inline: list[Inline] = []
        if call.messages is not None:
            self._bounded(span, placement, "messages", call.messages, data, inline)
        self._event(span, placement, EventType.MODEL_CALL, model or span.name, data, inline)
        if placement.agent_run_id is not None:
            totals = self.usage.setdefault(placement.agent_run_id, [0, 0, Decimal(0)])
            totals[0] += usage.input_tokens
            totals[1] += usage.output_tokens
            totals[2] += cost or Decimal(0)
            self.run_of[placement.agent_run_id] = placement.run_id

    def _tool_call(self, span: Span, placement: Placement) -> None:
        call = tool_call(span)
        data = dict(call.data)
        inline: list[Inline] = []
        if call.arguments is not None:
            self._bounded(span, placement, "arguments", call.arguments, data, inline)
        if call.result is not None:
            self._bounded(span, placement, "result", call.result, data, inline)
        self._event(span, placement, EventType.TOOL_CALL, call.name, data, inline)

    def _error(self, span: Span, placement: Placement) -> None:
        failure = mapping.error(span)
        if failure is None:
            return
        message, kind, stacktrace = failure
        data: dict[str, Any] = {"span_name": clean_text(span.name)[:500]}
        if kind:
            data["exception_type"] = clean_text(kind)[:500]
        inline: list[Inline] = []
        if stacktrace:
            self._bounded(span, placement, "stacktrace", clean_encoded(stacktrace), data, inline)
        self._event(span, placement, EventType.ERROR, message, data, inline, EventSeverity.ERROR)


def run_outcome(root: Span) -> tuple[RunStatus, str | None, dict[str, Any] | None]:
    """The status a root span gives its run, with the error message and details if it failed."""
    failure = mapping.error(root)
    if failure is None:
        return RunStatus.COMPLETED, None, None
    message, kind, _trace = failure
    return (
        RunStatus.FAILED,
        clean_text(message)[:10_000],
        {"exception_type": clean_text(kind)[:500] if kind else kind, "span_id": root.span_id},
    )


def run_results(root: Span) -> dict[str, Any] | None:
    """What a successful root reports as its output, if anything."""
    output = mapping.text(mapping.first(root.attributes, ("final_result", "output.value")))
    return {"output": clean_text(output)[:4000]} if output else None

"""Turning the spans of one trace into the record: a run, agent steps, events, usage.

A :class:`TraceWriter` is used for one trace within one transaction: the
root becomes a run (through the run service, so task status and statistics
stay exact) with a top agent step; agent spans become agent runs nested by
span ancestry; model and tool spans become events (written in one batch by
the ingest path) and add their usage to the enclosing agent run; a failed
span becomes an ERROR event and fails its agent step, and the run when it
is the root.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from flightlog.enums import AgentRunStatus, ArtifactType, EventSeverity, EventType, RunStatus
from flightlog.errors import NotFound, ValidationError
from flightlog.models import AgentRun, AgentSession, Task, TaskRun
from flightlog.otlp import mapping
from flightlog.otlp.ledger import Placement, clean_text
from flightlog.otlp.mapping import Role
from flightlog.otlp.prices import PriceTable
from flightlog.otlp.spans import Span
from flightlog.services import agent_runs, artifacts, runs, tasks
from flightlog.services._common import get_owned
from flightlog.services.artifacts import BlobPolicy

#: Tag and context marker of the tasks OpenTelemetry ingest creates.
SOURCE = "opentelemetry"


@dataclass(frozen=True, slots=True)
class Limits:
    """How much of a span's content is kept inline; beyond it, content becomes an artifact."""

    policy: BlobPolicy
    max_payload_bytes: int
    inline_content_bytes: int = 16_384


def span_time(nanoseconds: int) -> datetime:
    """An OTLP timestamp (nanoseconds since the epoch) as an aware UTC datetime."""
    return datetime.fromtimestamp(nanoseconds / 1e9, tz=UTC)


def _seconds(span: Span) -> float:
    return max(span.end_time_unix_nano - span.start_time_unix_nano, 0) / 1e9


def _clean(value: object) -> object:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    if isinstance(value, dict):
        return {clean_text(str(key)): _clean(item) for key, item in value.items()}
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return str(value)
    return value


def resolve_task(
    session: Session,
    customer_id: uuid.UUID,
    explicit: str | None,
    title: str,
    service: str | None,
) -> uuid.UUID:
    """The task a trace (or a service's metrics) is recorded under; created when missing.

    An explicit id must be one of the customer's tasks (another tenant's is
    NotFound, like one that does not exist); otherwise the customer's oldest
    task with this title, or a new one tagged ``opentelemetry``.
    """
    if explicit:
        try:
            wanted = uuid.UUID(explicit)
        except ValueError:
            raise ValidationError(
                f"{mapping.TASK_ID} must be a task's UUID, got {explicit[:64]!r}"
            ) from None
        return get_owned(session, Task, wanted, customer_id=customer_id).id
    title = clean_text(title).strip()[:500] or "OpenTelemetry trace"
    found = session.scalar(
        select(Task.id)
        .where(Task.customer_id == customer_id, Task.title == title)
        .order_by(Task.created_at, Task.id)
        .limit(1)
    )
    if found is not None:
        return found
    origin = clean_text(service or "an unnamed service")
    task = tasks.create_task(
        session,
        customer_id,
        title=title,
        description=f"Recorded from the OpenTelemetry telemetry of {origin}.",
        tags=[SOURCE],
        context={"source": SOURCE, "service.name": origin},
    )
    return task.id


class TraceWriter:
    """Writes the record of one trace; events are collected for one batch insert."""

    def __init__(
        self,
        session: Session,
        customer_id: uuid.UUID,
        limits: Limits,
        prices: PriceTable,
    ) -> None:
        self.session = session
        self.customer_id = customer_id
        self.limits = limits
        self.prices = prices
        self.events: list[dict[str, Any]] = []
        self._usage: dict[uuid.UUID, list[Any]] = {}
        self._new_agent_runs: dict[uuid.UUID, AgentRun] = {}
        self._root: tuple[Span, TaskRun, AgentRun] | None = None
        self._runs_touched: set[uuid.UUID] = set()

    # -- the run -------------------------------------------------------------------------

    def start_run(self, root: Span, conversation: str | None) -> Placement:
        """The run a trace's root span becomes, with its top agent step."""
        explicit, title = mapping.task_reference(root)
        service = mapping.text(root.resource.get("service.name"))
        task_id = resolve_task(self.session, self.customer_id, explicit, title, service)
        run = runs.start_run(
            self.session,
            self.customer_id,
            task_id,
            started_at=span_time(root.start_time_unix_nano),
            input_context={"source": SOURCE, "trace_id": root.trace_id, "service": service},
        )
        run.trace_id = root.trace_id
        run.span_id = root.span_id
        if conversation:
            run.session_id = self._session_for(conversation, root)
        step = self._agent_run(root, run.id, task_id, parent_id=None)
        self._root = (root, run, step)
        self._runs_touched.add(run.id)
        placement = Placement(run.id, task_id, step.id, step.agent_name)
        self._error(root, placement)
        return placement

    def _session_for(self, external_id: str, root: Span) -> uuid.UUID:
        external_id = clean_text(external_id)
        start, end = span_time(root.start_time_unix_nano), span_time(root.end_time_unix_nano)
        row = self.session.scalar(
            select(AgentSession).where(
                AgentSession.customer_id == self.customer_id,
                AgentSession.external_id == external_id,
            )
        )
        if row is None:
            row = AgentSession(
                customer_id=self.customer_id,
                external_id=external_id,
                started_at=start,
                last_activity_at=end,
                details={"source": SOURCE},
            )
            self.session.add(row)
            self.session.flush()
            return row.id
        row.started_at = min(filter(None, (row.started_at, start)))
        row.last_activity_at = max(filter(None, (row.last_activity_at, end)))
        return row.id

    # -- spans under the run -------------------------------------------------------------

    def place(self, span: Span, parent: Placement) -> Placement:
        """Record one span whose parent is recorded; return where its children attach."""
        self._runs_touched.add(parent.run_id)
        kind = mapping.role(span)
        placement = parent
        if kind is Role.AGENT:
            step = self._agent_run(span, parent.run_id, parent.task_id, parent.agent_run_id)
            placement = Placement(parent.run_id, parent.task_id, step.id, step.agent_name)
        elif kind is Role.MODEL:
            self._model_call(span, parent)
        elif kind is Role.TOOL:
            self._tool_call(span, parent)
        self._error(span, placement)
        return placement

    def _agent_run(
        self, span: Span, run_id: uuid.UUID, task_id: uuid.UUID, parent_id: uuid.UUID | None
    ) -> AgentRun:
        failure = mapping.error(span)
        name = clean_text(
            mapping.agent_name(span)
            if mapping.role(span) is Role.AGENT or span.parent_span_id is None
            else mapping.bare_name(span)
        )[:100]
        details: dict[str, Any] = {"source": SOURCE, "span_name": clean_text(span.name)[:500]}
        handoff = mapping.text(span.attributes.get("graph.node.parent_id"))
        if handoff:
            details["handed_off_by"] = clean_text(handoff)[:100]
        step = AgentRun(
            id=uuid.uuid4(),
            task_id=task_id,
            run_id=run_id,
            parent_id=parent_id,
            agent_name=name or "agent",
            status=AgentRunStatus.FAILED if failure else AgentRunStatus.COMPLETED,
            started_at=span_time(span.start_time_unix_nano),
            finished_at=span_time(span.end_time_unix_nano),
            duration_seconds=_seconds(span),
            error_message=clean_text(failure[0])[:10_000] if failure else None,
            details=details,
            trace_id=span.trace_id,
            span_id=span.span_id,
        )
        self.session.add(step)
        self._new_agent_runs[step.id] = step
        return step

    def _event(
        self,
        span: Span,
        placement: Placement,
        event_type: EventType,
        content: str,
        data: dict[str, Any],
        severity: EventSeverity = EventSeverity.INFO,
    ) -> None:
        self.events.append(
            {
                "event_type": event_type,
                "severity": severity,
                "content": clean_text(content)[:2000],
                "data": _clean(data),
                "task_id": placement.task_id,
                "run_id": placement.run_id,
                "agent_run_id": placement.agent_run_id,
                "agent_role": placement.agent_name,
                "created_at": span_time(span.start_time_unix_nano),
                "trace_id": span.trace_id,
                "span_id": span.span_id,
            }
        )

    def _bounded(self, span: Span, placement: Placement, what: str, content: object) -> object:
        """Content kept inline when small; otherwise an artifact, referenced by id."""
        encoded = json.dumps(_clean(content), ensure_ascii=False)
        if len(encoded.encode("utf-8")) <= self.limits.inline_content_bytes:
            return content
        artifact = artifacts.put(
            self.session,
            self.customer_id,
            self.limits.policy,
            placement.task_id,
            f"span-{span.span_id}-{what}.json",
            encoded.encode("utf-8"),
            content_type="application/json",
            artifact_type=ArtifactType.LOG,
            run_id=placement.run_id,
            metadata={"source": SOURCE, "trace_id": span.trace_id, "span_id": span.span_id},
        )
        return {"artifact_id": str(artifact.id), "bytes": len(encoded.encode("utf-8"))}

    def _model_call(self, span: Span, placement: Placement) -> None:
        usage = mapping.usage(span)
        model = mapping.model_name(span)
        data: dict[str, Any] = {
            "model": model,
            "provider": mapping.provider(span),
            "operation": mapping.text(span.attributes.get("gen_ai.operation.name")),
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "latency_ms": round(_seconds(span) * 1000, 3),
        }
        if usage.cached_input_tokens:
            data["cached_input_tokens"] = usage.cached_input_tokens
        cost = usage.reported_cost_usd
        if cost is not None:
            data |= {"cost_usd": str(cost), "cost_source": "reported"}
        elif model is not None:
            computed = self.prices.estimate(
                model,
                span_time(span.start_time_unix_nano),
                usage.input_tokens,
                usage.output_tokens,
                usage.cached_input_tokens,
            )
            if computed is not None:
                cost = computed.usd
                data |= {"cost_usd": str(cost), **computed.describe()}
        finish = span.attributes.get("gen_ai.response.finish_reasons")
        if finish is not None:
            data["finish_reasons"] = mapping.text(finish)
        found = mapping.messages(span)
        if found:
            data["messages"] = self._bounded(span, placement, "messages", found)
        self._event(span, placement, EventType.MODEL_CALL, f"{model or span.name}", data)
        if placement.agent_run_id is not None:
            totals = self._usage.setdefault(placement.agent_run_id, [0, 0, Decimal(0)])
            totals[0] += usage.input_tokens
            totals[1] += usage.output_tokens
            totals[2] += cost or Decimal(0)

    def _tool_call(self, span: Span, placement: Placement) -> None:
        name, call_id, arguments, result = mapping.tool_call(span)
        data: dict[str, Any] = {"tool": name, "latency_ms": round(_seconds(span) * 1000, 3)}
        if call_id:
            data["call_id"] = call_id
        if arguments is not None:
            data["arguments"] = self._bounded(span, placement, "arguments", arguments)
        if result is not None:
            data["result"] = self._bounded(span, placement, "result", result)
        self._event(span, placement, EventType.TOOL_CALL, name, data)

    def _error(self, span: Span, placement: Placement) -> None:
        failure = mapping.error(span)
        if failure is None:
            return
        message, kind, stacktrace = failure
        data: dict[str, Any] = {"span_name": span.name}
        if kind:
            data["exception_type"] = kind
        if stacktrace:
            data["stacktrace"] = self._bounded(span, placement, "stacktrace", stacktrace)
        self._event(span, placement, EventType.ERROR, message, data, EventSeverity.ERROR)

    # -- closing -------------------------------------------------------------------------

    def close(self) -> None:
        """Apply usage, roll it up into the runs, and end the run when its root came."""
        for agent_run_id, (tokens_in, tokens_out, cost) in self._usage.items():
            step = self._new_agent_runs.get(agent_run_id)
            if step is not None:
                step.tokens_in += tokens_in
                step.tokens_out += tokens_out
                step.cost_usd = Decimal(step.cost_usd or 0) + cost
            else:  # a late child of a step recorded by an earlier request
                self.session.execute(
                    update(AgentRun)
                    .where(AgentRun.id == agent_run_id)
                    .values(
                        tokens_in=AgentRun.tokens_in + tokens_in,
                        tokens_out=AgentRun.tokens_out + tokens_out,
                        cost_usd=AgentRun.cost_usd + cost,
                    )
                )
        self.session.flush()
        for run_id in sorted(self._runs_touched):
            run = self.session.get(TaskRun, run_id)
            if run is None:
                raise NotFound(f"run {run_id} was deleted while its spans arrived")
            agent_runs.roll_up_usage(self.session, run)
        if self._root is not None:
            self._finish_root(*self._root)

    def _finish_root(self, root: Span, run: TaskRun, step: AgentRun) -> None:
        ended = span_time(root.end_time_unix_nano)
        failure = mapping.error(root)
        if failure is None:
            output = mapping.text(mapping.first(root.attributes, ("final_result", "output.value")))
            runs.finish_run(
                self.session,
                self.customer_id,
                run.id,
                status=RunStatus.COMPLETED,
                results={"output": clean_text(output)[:4000]} if output else None,
                completed_at=ended,
            )
        else:
            runs.fail_run(
                self.session,
                self.customer_id,
                run.id,
                error_message=clean_text(failure[0])[:10_000],
                error_details={"exception_type": failure[1], "span_id": root.span_id},
                completed_at=ended,
            )

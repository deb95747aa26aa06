"""Runs of a task: start or queue one, begin, decide its plan, finish; its timeline."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from flightlog.enums import AgentType, ApprovalStatus, RunStatus
from flightlog.schemas._base import In, Out
from flightlog.schemas.agent_runs import AgentRunOut
from flightlog.schemas.events import EventOut
from flightlog.schemas.fields import (
    Actor,
    Boolean,
    Count,
    NonBlank255,
    Number,
    Text64,
    Text255,
    Text500,
    Time,
)
from flightlog.services.timeline import TimelineCursor


class RunOut(Out):
    id: uuid.UUID
    task_id: uuid.UUID
    run_number: int
    status: RunStatus
    agent_id: uuid.UUID | None
    agent_type: AgentType | None
    plan: dict[str, Any] | None
    plan_status: ApprovalStatus | None
    plan_decided_by: str | None
    plan_decided_at: datetime | None
    plan_comment: str | None
    input_context: dict[str, Any]
    results: dict[str, Any] | None
    error_message: str | None
    error_details: dict[str, Any] | None
    started_at: datetime | None
    completed_at: datetime | None
    duration_seconds: float | None
    memory_usage_mb: int | None
    cpu_time_ms: int | None
    git_branch: str | None
    git_commit: str | None
    pr_url: str | None
    tokens_in: int
    tokens_out: int
    cost_usd: Decimal
    session_id: uuid.UUID | None = Field(description="The conversation the run belongs to.")
    trace_id: str | None = Field(description="The OpenTelemetry trace it was recorded from.")
    span_id: str | None = Field(description="The trace's root span.")
    created_at: datetime
    updated_at: datetime


class RunQueue(In):
    plan: dict[str, Any] | None = None
    input_context: dict[str, Any] | None = None
    agent_id: uuid.UUID | None = None
    agent_type: AgentType | None = None
    git_branch: Text255 | None = None
    actor: Actor = None
    id: uuid.UUID | None = Field(
        default=None,
        description="The id to give it (moving existing data in); 409 when it is taken. "
        "Default: a new UUIDv7.",
    )


class RunStart(RunQueue):
    """A run that awaits plan approval needs a plan."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"properties": {"await_plan_approval": {"const": False}}},
                {"required": ["plan"], "properties": {"plan": {"type": "object"}}},
            ]
        }
    )

    await_plan_approval: Boolean = False
    started_at: Time | None = Field(
        default=None,
        description="When the run started, if the caller measured it (default: now); at most "
        "5 minutes ahead of the server's clock.",
    )


class RunBegin(In):
    """Awaiting plan approval needs a queued run with a plan."""

    await_plan_approval: Boolean = False
    actor: Actor = None


#: The statuses a run (or a claim) may finish with.
FINISHING_RUN_STATUSES = ("COMPLETED", "FAILED", "TIMEOUT", "CANCELLED")
FinishingRunStatus = Annotated[
    RunStatus,
    WithJsonSchema(
        {"type": "string", "enum": list(FINISHING_RUN_STATUSES), "title": "FinishingRunStatus"}
    ),
]


def failed_needs_reason(*reasons: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """``anyOf``: the status is not FAILED, or one of ``reasons`` (name, schema) is given."""
    others = [status for status in FINISHING_RUN_STATUSES if status != "FAILED"]
    return {
        "anyOf": [
            {"properties": {"status": {"enum": others}}},
            *({"required": [name], "properties": {name: schema}} for name, schema in reasons),
        ]
    }


class RunFinish(In):
    """A FAILED run needs an error_message or error_details."""

    model_config = ConfigDict(
        json_schema_extra=failed_needs_reason(
            ("error_message", {"type": "string", "minLength": 1}),
            ("error_details", {"type": "object", "minProperties": 1}),
        )
    )

    status: FinishingRunStatus = RunStatus.COMPLETED
    results: dict[str, Any] | None = None
    error_message: str | None = None
    error_details: dict[str, Any] | None = None
    memory_usage_mb: Count | None = None
    cpu_time_ms: Count | None = None
    git_commit: Text64 | None = None
    pr_url: Text500 | None = None
    actor: Actor = None
    completed_at: Time | None = Field(
        default=None,
        description="When the run ended, if the caller measured it (default: now); not before "
        "the run started, at most 5 minutes ahead of the server's clock.",
    )
    duration_seconds: Number | None = Field(
        default=None,
        ge=0,
        allow_inf_nan=False,
        description="How long the run took, if the caller timed it: with completed_at it must "
        "agree with completed_at minus the start (within a millisecond); alone, the run ends "
        "at its start plus this duration.",
    )


class PlanDecision(In):
    approve: Boolean
    decided_by: NonBlank255
    comment: str | None = None


class TimelineEntryOut(BaseModel):
    """One entry of a run's timeline: an agent step or an event, whichever ``kind`` says."""

    at: datetime
    kind: Literal["agent_run", "event"]
    agent_run: AgentRunOut | None = None
    event: EventOut | None = None


class TimelineOut(BaseModel):
    entries: list[TimelineEntryOut]
    next: TimelineCursor | None = Field(
        description="Pass back as after_at, after_kind and after_key for the next page."
    )
    previous: TimelineCursor | None = Field(
        default=None,
        description="Pass back as before_at, before_kind and before_key for the page before "
        "this one; null on the first page.",
    )
    enclosing: list[AgentRunOut] = Field(
        default_factory=list,
        description="Agent steps this page's entries happen in that are not on the page "
        "(parents of its steps, steps of its events) and their ancestors, oldest first.",
    )
    total: int | None = Field(
        default=None, description="How many entries the whole run has, when asked with total."
    )

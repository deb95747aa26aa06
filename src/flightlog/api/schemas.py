"""The API's request and response bodies: an explicit contract, read from the ORM rows.

Responses list their fields rather than mirroring the tables, so a new
column does not silently become public API. Requests forbid unknown fields,
so a typo is a 422 rather than a value quietly ignored.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, WithJsonSchema

from flightlog.api.fields import (
    MAX_INT,
    NOT_BLANK,
    TIME_PATTERN,
    Boolean,
    JsonInteger,
    NonBlank255,
    NonBlank500,
    Text64,
    Text255,
    Text500,
    optional,
)
from flightlog.enums import (
    AgentRunStatus,
    AgentType,
    ApprovalStatus,
    EventSeverity,
    EventType,
    MetricType,
    RunStatus,
    TaskStatus,
)
from flightlog.services import events as event_service
from flightlog.services import metrics as metric_service
from flightlog.services.timeline import TimelineCursor

#: Who did it, as kept in the audit log (the column holds 255 characters).
Actor = Annotated[str | None, Field(max_length=255)]

#: Most rows one POST may carry; larger streams belong to the Python ingest path.
MAX_BATCH = 10_000


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskOut(_Out):
    id: uuid.UUID
    project_id: uuid.UUID | None
    parent_task_id: uuid.UUID | None
    title: str
    description: str | None
    input_prompt: str | None
    status: TaskStatus
    priority: int
    config: dict[str, Any]
    requirements: dict[str, Any]
    context: dict[str, Any]
    tags: list[str]
    assigned_agent_id: uuid.UUID | None
    assigned_agent_type: AgentType | None
    result_summary: str | None
    max_rounds: int
    memory_size: int
    total_runs: int
    successful_runs: int
    failed_runs: int
    success_rate: float
    avg_duration_seconds: float | None
    last_run_at: datetime | None
    claimed_by: str | None
    started_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class TaskPageOut(BaseModel):
    items: list[TaskOut]
    next_cursor: uuid.UUID | None = Field(description="Pass back as ?cursor= for the next page.")


#: A count in an INTEGER column.
Count = Annotated[int, Field(ge=0, le=MAX_INT), JsonInteger]
#: A time as the services take it: with a UTC offset, between the years 1000 and 9000.
Time = Annotated[
    AwareDatetime,
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": TIME_PATTERN}),
]


#: A task's conversation rounds or memory size (seed 001): a positive INTEGER.
Rounds = Annotated[int, Field(ge=1, le=MAX_INT), JsonInteger]


class TaskCreate(_In):
    """A title, or a prompt whose first line becomes the title."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["title"], "properties": {"title": {"type": "string"}}},
                {
                    "required": ["input_prompt"],
                    "properties": {"input_prompt": {"type": "string", "pattern": NOT_BLANK}},
                },
            ]
        }
    )

    title: NonBlank500 | None = None
    input_prompt: str | None = None
    description: str | None = None
    priority: Annotated[int, Field(ge=-MAX_INT, le=MAX_INT), JsonInteger] = optional()
    project_id: uuid.UUID | None = None
    parent_task_id: uuid.UUID | None = None
    tags: list[str] = optional()
    config: dict[str, Any] = optional()
    requirements: dict[str, Any] = optional()
    context: dict[str, Any] = optional()
    assigned_agent_id: uuid.UUID | None = None
    assigned_agent_type: AgentType | None = None
    result_summary: str | None = None
    max_rounds: Rounds = optional()
    memory_size: Rounds = optional()
    depends_on: list[uuid.UUID] = Field(default_factory=list)
    actor: Actor = None


class TaskUpdate(_In):
    """The fields to change; the ones left out keep their values."""

    title: NonBlank500 = optional()
    description: str | None = None
    input_prompt: str | None = None
    priority: Annotated[int, Field(ge=-MAX_INT, le=MAX_INT), JsonInteger] = optional()
    tags: list[str] = optional()
    config: dict[str, Any] = optional()
    requirements: dict[str, Any] = optional()
    context: dict[str, Any] = optional()
    assigned_agent_id: uuid.UUID | None = None
    assigned_agent_type: AgentType | None = None
    result_summary: str | None = None
    max_rounds: Rounds = optional()
    memory_size: Rounds = optional()
    project_id: uuid.UUID | None = None


class CancelIn(_In):
    reason: str | None = None
    actor: Actor = None


class RunOut(_Out):
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
    created_at: datetime
    updated_at: datetime


class RunQueue(_In):
    plan: dict[str, Any] | None = None
    input_context: dict[str, Any] | None = None
    agent_id: uuid.UUID | None = None
    agent_type: AgentType | None = None
    git_branch: Text255 | None = None
    actor: Actor = None


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


class RunBegin(_In):
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


class RunFinish(_In):
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


class PlanDecision(_In):
    approve: Boolean
    decided_by: NonBlank255
    comment: str | None = None


class AgentRunOut(_Out):
    id: uuid.UUID
    task_id: uuid.UUID
    run_id: uuid.UUID | None
    parent_id: uuid.UUID | None
    agent_id: uuid.UUID | None
    agent_name: str
    status: AgentRunStatus
    started_at: datetime
    finished_at: datetime | None
    duration_seconds: float | None
    output_summary: str | None
    error_message: str | None
    tokens_in: int
    tokens_out: int
    cost_usd: Decimal


class EventOut(_Out):
    id: int
    task_id: uuid.UUID | None
    run_id: uuid.UUID | None
    agent_run_id: uuid.UUID | None
    agent_id: uuid.UUID | None
    parent_event_id: int | None
    event_type: EventType
    severity: EventSeverity
    agent_role: str | None
    content: str | None
    data: dict[str, Any] | None
    entity_type: str | None
    entity_id: str | None
    actor: str | None
    created_at: datetime


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


class EventPageOut(BaseModel):
    items: list[EventOut]
    next_after_id: int | None = Field(description="Pass back as ?after_id= for the next page.")


#: Written by Flightlog itself when state changes; a client may not forge them.
SERVER_EVENT_TYPES = frozenset({EventType.STATUS_CHANGE, EventType.AUDIT})


class NewEvent(event_service.NewEvent):
    """The Store's ``NewEvent`` as a client may send it: not the types Flightlog writes itself.

    The event's ``content`` and ``data`` together may hold at most
    ``FLIGHTLOG_MAX_EVENT_PAYLOAD_BYTES`` (1 MiB by default).
    """

    event_type: Annotated[
        EventType,
        WithJsonSchema(
            {
                "type": "string",
                "enum": [t.value for t in EventType if t not in SERVER_EVENT_TYPES],
                "title": "ClientEventType",
            }
        ),
    ]
    created_at: Time | None = None


class EventBatch(_In):
    """``POST /events``: read by :mod:`flightlog.api.batches`; this model documents it."""

    events: list[NewEvent] = Field(min_length=1, max_length=MAX_BATCH)


class EventIds(BaseModel):
    ids: list[int] = Field(description="The new events' ids, in the order they were sent.")


class NewMetric(metric_service.NewMetric):
    """The Store's ``NewMetric``, whose point belongs to a task or a run."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["task_id"], "properties": {"task_id": {"type": "string"}}},
                {"required": ["run_id"], "properties": {"run_id": {"type": "string"}}},
            ]
        }
    )

    recorded_at: Time | None = None


class MetricBatch(_In):
    """``POST /metrics``: read by :mod:`flightlog.api.batches`; this model documents it."""

    metrics: list[NewMetric] = Field(min_length=1, max_length=MAX_BATCH)


class Recorded(BaseModel):
    recorded: int


class MetricPointOut(_Out):
    id: int
    task_id: uuid.UUID | None
    run_id: uuid.UUID | None
    agent_run_id: uuid.UUID | None
    name: str
    metric_type: MetricType
    value: float
    unit: str | None
    labels: dict[str, Any]
    recorded_at: datetime


class MetricSummaryOut(_Out):
    name: str
    count: int
    min: float
    max: float
    avg: float
    last: float


class Health(BaseModel):
    status: str
    database: str
    schema_revision: str | None

"""Agent runs: one agent's step in a run, its token usage and cost, its outcome."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field, WithJsonSchema

from flightlog.enums import AgentRunStatus
from flightlog.schemas._base import In, Out
from flightlog.schemas.fields import JsonInteger, NonBlank100, Time, decimal_schema
from flightlog.services.agent_runs import MAX_COST_USD, MAX_TOKEN_TOTAL

#: One usage report's tokens: what a total's INTEGER column holds (the service also
#: refuses a report that would take a total past it).
MAX_TOKENS = MAX_TOKEN_TOTAL

#: USD in NUMERIC(14, 6): under 10**8, further decimal places are rounded away.
Cost = Annotated[
    Decimal,
    Field(ge=0, lt=MAX_COST_USD, allow_inf_nan=False),
    WithJsonSchema(decimal_schema(digits=8, places=None, maximum=Decimal(MAX_COST_USD))),
]
Tokens = Annotated[int, Field(ge=0, le=MAX_TOKENS), JsonInteger]
FinishingAgentRunStatus = Annotated[
    AgentRunStatus,
    WithJsonSchema(
        {
            "type": "string",
            "enum": ["COMPLETED", "FAILED", "CANCELLED"],
            "title": "FinishingAgentRunStatus",
        }
    ),
]


class AgentRunOut(Out):
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
    trace_id: str | None = Field(description="The OpenTelemetry trace it was recorded from.")
    span_id: str | None = Field(description="The OpenTelemetry span it was recorded from.")


class AgentRunStart(In):
    agent_name: NonBlank100
    parent_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None
    details: dict[str, Any] | None = None
    started_at: Time | None = Field(
        default=None,
        description="When the agent started, if the caller measured it (default: now); not "
        "before its run started, at most 5 minutes ahead of the server's clock.",
    )
    id: uuid.UUID | None = Field(
        default=None,
        description="The id to give it (moving existing data in); 409 when it is taken. "
        "Default: a new UUIDv7.",
    )


class Usage(In):
    tokens_in: Tokens = 0
    tokens_out: Tokens = 0
    cost_usd: Cost = Decimal(0)


class AgentRunFinish(Usage):
    status: FinishingAgentRunStatus = AgentRunStatus.COMPLETED
    output_summary: str | None = None
    error_message: str | None = None
    finished_at: Time | None = Field(
        default=None,
        description="When the agent finished, if the caller measured it (default: now); not "
        "before it started, at most 5 minutes ahead of the server's clock.",
    )


class AgentRunPageOut(Out):
    """A task's agent runs by start time, oldest first (``GET /tasks/{task_id}/agent-runs``)."""

    items: list[AgentRunOut]
    next_cursor: uuid.UUID | None = Field(description="Pass back as ?cursor= for the next page.")
    previous_cursor: uuid.UUID | None = Field(
        default=None, description="Pass back as ?before= for the page before (none on the first)."
    )
    total: int | None = Field(
        default=None, description="Every agent run of the task, with ?total=true."
    )
    offset: int | None = Field(
        default=None, description="How many of them come before this page (?total=true)."
    )

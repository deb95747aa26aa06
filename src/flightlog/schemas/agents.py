"""The agent registry: register, deregister, and an agent's derived health."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import Field

from flightlog.enums import AgentStatus, AgentType, RunStatus
from flightlog.schemas._base import In, Out
from flightlog.schemas.fields import NonBlank100, NonBlank255, Text64, Text100, Text500


class AgentRegistration(In):
    name: NonBlank255
    agent_type: AgentType
    capabilities: list[NonBlank100] = Field(default_factory=list)
    version: Text64 | None = None
    endpoint: Text500 | None = None
    config: dict[str, Any] | None = None
    role: Text100 | None = None


class Deregistration(In):
    actor: str | None = Field(default=None, max_length=255)
    reason: str | None = None


class AgentOut(Out):
    id: uuid.UUID
    name: str
    agent_type: AgentType
    role: str | None
    status: AgentStatus = Field(description="Health derived from the last heartbeat's age.")
    version: str | None
    endpoint: str | None
    capabilities: list[Any]
    config: dict[str, Any]
    last_heartbeat_at: datetime | None
    created_at: datetime


class AgentWorkOut(Out):
    """A run the agent took part in, with its own share of it."""

    run_id: uuid.UUID
    task_id: uuid.UUID
    task_title: str
    run_number: int
    status: RunStatus = Field(description="The run's status.")
    started_at: datetime | None
    duration_seconds: float | None
    led: bool = Field(description="The run was started for this agent.")
    steps: int = Field(description="The agent's steps (agent runs) in the run.")
    failed_steps: int
    tokens_in: int
    tokens_out: int
    cost_usd: Decimal = Field(description="Of the agent's own steps in the run.")


class AgentActivityOut(Out):
    """An agent's runs, error rates, tokens and cost (its own steps')."""

    agent_id: uuid.UUID
    runs: int
    finished_runs: int
    failed_runs: int
    run_error_rate: float | None = Field(
        description="Failed and timed-out runs among completed, failed and timed-out ones."
    )
    steps: int
    finished_steps: int
    failed_steps: int
    step_error_rate: float | None = Field(
        description="Failed steps among completed and failed ones."
    )
    tokens_in: int
    tokens_out: int
    cost_usd: Decimal
    last_active_at: datetime | None
    recent: list[AgentWorkOut] = Field(description="A page of its runs, newest first.")
    next_cursor: uuid.UUID | None = Field(description="Pass back as ?cursor= for older runs.")
    previous_cursor: uuid.UUID | None = Field(
        default=None, description="Pass back as ?before= for newer runs."
    )
    offset: int = Field(default=0, description="How many of its runs are newer than this page.")

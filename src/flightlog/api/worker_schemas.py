"""Bodies of the worker-side endpoints: claims, agent runs, agents and artifacts."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, WithJsonSchema

from flightlog.api.fields import (
    JsonInteger,
    NonBlank100,
    NonBlank255,
    Number,
    Text64,
    Text100,
    Text500,
    decimal_schema,
)
from flightlog.api.schemas import FinishingRunStatus, failed_needs_reason
from flightlog.enums import AgentRunStatus, AgentStatus, AgentType, ArtifactType, RunStatus
from flightlog.services.agent_runs import MAX_COST_USD
from flightlog.services.claims import MAX_LEASE_SECONDS

#: Token counters are BIGINT; a single report of more than a trillion is a bug upstream.
MAX_TOKENS = 10**12


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClaimRequest(_In):
    worker: str = Field(min_length=1, max_length=255)
    lease_seconds: Number = Field(default=300.0, gt=0, le=MAX_LEASE_SECONDS)
    limit: Annotated[int, Field(ge=1, le=100), JsonInteger] = 1


class ClaimOut(_Out):
    """A leased task and its run; send it back to complete or release the claim."""

    task_id: uuid.UUID
    run_id: uuid.UUID
    worker: str = Field(min_length=1, max_length=255)
    lease_expires_at: AwareDatetime


class Heartbeat(_In):
    task_id: uuid.UUID
    worker: str = Field(min_length=1, max_length=255)
    lease_seconds: Number = Field(default=300.0, gt=0, le=MAX_LEASE_SECONDS)


class LeaseOut(BaseModel):
    lease_expires_at: datetime


class ClaimComplete(_In):
    """A FAILED run needs an error_message."""

    model_config = ConfigDict(
        json_schema_extra=failed_needs_reason(("error_message", {"type": "string", "minLength": 1}))
    )

    claim: ClaimOut
    status: FinishingRunStatus = RunStatus.COMPLETED
    results: dict[str, Any] | None = None
    error_message: str | None = None


class ClaimRelease(_In):
    claim: ClaimOut
    reason: str | None = None


class AgentRunStart(_In):
    agent_name: NonBlank100
    parent_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None
    details: dict[str, Any] | None = None


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


class Usage(_In):
    tokens_in: Tokens = 0
    tokens_out: Tokens = 0
    cost_usd: Cost = Decimal(0)


class AgentRunFinish(Usage):
    status: FinishingAgentRunStatus = AgentRunStatus.COMPLETED
    output_summary: str | None = None
    error_message: str | None = None


class AgentRegistration(_In):
    name: NonBlank255
    agent_type: AgentType
    capabilities: list[NonBlank100] = Field(default_factory=list)
    version: Text64 | None = None
    endpoint: Text500 | None = None
    config: dict[str, Any] | None = None
    role: Text100 | None = None


class Deregistration(_In):
    actor: str | None = Field(default=None, max_length=255)
    reason: str | None = None


class AgentOut(_Out):
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


class ArtifactOut(_Out):
    id: uuid.UUID
    task_id: uuid.UUID
    run_id: uuid.UUID | None
    name: str
    version: int
    artifact_type: ArtifactType
    file_path: str | None
    content_type: str
    size_bytes: int
    sha256: str
    metadata: dict[str, Any] = Field(validation_alias="metadata_")
    created_at: datetime

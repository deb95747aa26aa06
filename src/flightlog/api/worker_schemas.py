"""Bodies of the worker-side endpoints: claims, agent runs, agents and artifacts."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from flightlog.enums import AgentRunStatus, AgentStatus, AgentType, ArtifactType, RunStatus


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClaimRequest(_In):
    worker: str = Field(min_length=1, max_length=255)
    lease_seconds: float = Field(default=300.0, gt=0)
    limit: int = Field(default=1, ge=1, le=100)


class ClaimOut(_Out):
    """A leased task and its run; send it back to complete or release the claim."""

    task_id: uuid.UUID
    run_id: uuid.UUID
    worker: str
    lease_expires_at: datetime


class Heartbeat(_In):
    task_id: uuid.UUID
    worker: str
    lease_seconds: float = Field(default=300.0, gt=0)


class LeaseOut(BaseModel):
    lease_expires_at: datetime


class ClaimComplete(_In):
    claim: ClaimOut
    status: RunStatus = RunStatus.COMPLETED
    results: dict[str, Any] | None = None
    error_message: str | None = None


class ClaimRelease(_In):
    claim: ClaimOut
    reason: str | None = None


class AgentRunStart(_In):
    agent_name: str
    parent_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None
    details: dict[str, Any] | None = None


class Usage(_In):
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: Decimal = Decimal(0)


class AgentRunFinish(Usage):
    status: AgentRunStatus = AgentRunStatus.COMPLETED
    output_summary: str | None = None
    error_message: str | None = None


class AgentRegistration(_In):
    name: str
    agent_type: AgentType
    capabilities: list[str] = Field(default_factory=list)
    version: str | None = None
    endpoint: str | None = None
    config: dict[str, Any] | None = None
    role: str | None = None


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

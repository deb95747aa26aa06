"""The agent registry: register, deregister, and an agent's derived health."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from flightlog.enums import AgentStatus, AgentType
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

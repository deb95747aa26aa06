"""Registered agents (seeds 002, 004): platform agents and team roles alike."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from flightlog.db.base import Base, Timestamps, UuidPk, str_enum
from flightlog.enums import AgentStatus, AgentType
from flightlog.models._columns import owner_fk


class Agent(UuidPk, Timestamps, Base):
    """An agent process or role. Its name is unique within a customer (registration is idempotent)."""

    __tablename__ = "agents"
    __table_args__ = (
        UniqueConstraint("customer_id", "name"),
        Index("ix_agents_capabilities_gin", "capabilities", postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
    )

    customer_id: Mapped[uuid.UUID] = owner_fk("customers.id", index=False)
    name: Mapped[str] = mapped_column(String(255))
    agent_type: Mapped[AgentType] = mapped_column(str_enum(AgentType, "agent_type"), index=True)
    role: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[AgentStatus] = mapped_column(
        str_enum(AgentStatus, "status"),
        default=AgentStatus.STARTING,
        server_default="STARTING",
        index=True,
    )
    version: Mapped[str | None] = mapped_column(String(64))
    endpoint: Mapped[str | None] = mapped_column(String(500))
    capabilities: Mapped[list[Any]] = mapped_column(default=list)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_heartbeat_at: Mapped[datetime | None]

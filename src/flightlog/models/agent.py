"""Registered agents (seeds 002, 004): platform agents and team roles alike."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from flightlog.db.base import Base, Timestamps, UuidPk, str_enum
from flightlog.enums import AgentStatus, AgentType
from flightlog.models._columns import owner_fk

if TYPE_CHECKING:
    from flightlog.models.tenancy import Customer


class Agent(UuidPk, Timestamps, Base):
    """An agent process or role; unique by name within a customer (idempotent registration)."""

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

    customer: Mapped[Customer] = relationship(back_populates="agents", lazy="raise_on_sql")

"""One agent's (role's) part of a task or run, possibly nested (seed 001)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import CheckConstraint, Index, Numeric, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from flightlog.db.base import Base, UuidPk, str_enum
from flightlog.db.types import utcnow
from flightlog.enums import AgentRunStatus
from flightlog.models._columns import owner_fk, shared_fk

if TYPE_CHECKING:
    from flightlog.models.agent import Agent
    from flightlog.models.run import TaskRun
    from flightlog.models.task import Task


class AgentRun(UuidPk, Base):
    """A step by one agent. ``parent_id`` nests steps; the run's token totals sum these."""

    __tablename__ = "agent_runs"
    __table_args__ = (
        CheckConstraint(
            "tokens_in >= 0 AND tokens_out >= 0 AND cost_usd >= 0", name="usage_nonnegative"
        ),
        CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
        Index("ix_agent_runs_task_started", "task_id", "started_at"),
        Index("ix_agent_runs_run_started", "run_id", "started_at"),
        Index(
            "ix_agent_runs_trace_span",
            "trace_id",
            "span_id",
            postgresql_where=text("trace_id IS NOT NULL"),
            sqlite_where=text("trace_id IS NOT NULL"),
        ),
    )

    task_id: Mapped[uuid.UUID] = owner_fk("tasks.id", index=False)
    run_id: Mapped[uuid.UUID | None] = owner_fk(
        "task_runs.id", nullable=True, index=False, deferrable=True
    )
    parent_id: Mapped[uuid.UUID | None] = owner_fk("agent_runs.id", nullable=True)
    agent_id: Mapped[uuid.UUID | None] = shared_fk("agents.id")
    agent_name: Mapped[str] = mapped_column(String(100), index=True)
    status: Mapped[AgentRunStatus] = mapped_column(
        str_enum(AgentRunStatus, "status"),
        default=AgentRunStatus.STARTED,
        server_default="STARTED",
        index=True,
    )
    started_at: Mapped[datetime] = mapped_column(server_default=utcnow(), index=True)
    finished_at: Mapped[datetime | None]
    duration_seconds: Mapped[float | None]
    output_summary: Mapped[str | None] = mapped_column(Text)
    error_message: Mapped[str | None] = mapped_column(Text)
    tokens_in: Mapped[int] = mapped_column(default=0, server_default="0")
    tokens_out: Mapped[int] = mapped_column(default=0, server_default="0")
    cost_usd: Mapped[Decimal] = mapped_column(
        Numeric(14, 6), default=Decimal(0), server_default="0"
    )
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: The OpenTelemetry span this step was recorded from (issue 12), if any.
    trace_id: Mapped[str | None] = mapped_column(String(32))
    span_id: Mapped[str | None] = mapped_column(String(16))

    task: Mapped[Task] = relationship(back_populates="agent_runs", lazy="raise_on_sql")
    run: Mapped[TaskRun | None] = relationship(back_populates="agent_runs", lazy="raise_on_sql")
    agent: Mapped[Agent | None] = relationship(lazy="raise_on_sql")
    parent: Mapped[AgentRun | None] = relationship(
        back_populates="children", remote_side="AgentRun.id", lazy="raise_on_sql"
    )
    children: Mapped[list[AgentRun]] = relationship(
        back_populates="parent", passive_deletes=True, lazy="raise_on_sql"
    )

"""Task runs, the executions of a task (seed 000's TaskRun, seed 004's task_executions)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import CheckConstraint, Index, Numeric, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, WriteOnlyMapped, mapped_column, relationship

from flightlog.db.base import Base, Timestamps, UuidPk, str_enum
from flightlog.enums import AgentType, ApprovalStatus, RunStatus
from flightlog.models._columns import owner_fk, shared_fk

if TYPE_CHECKING:
    from flightlog.models.agent import Agent
    from flightlog.models.agent_run import AgentRun
    from flightlog.models.artifact import Artifact
    from flightlog.models.event import Event
    from flightlog.models.task import Task


class TaskRun(UuidPk, Timestamps, Base):
    """One attempt at a task. ``run_number`` counts 1, 2, 3… per task without gaps."""

    __tablename__ = "task_runs"
    __table_args__ = (
        UniqueConstraint("task_id", "run_number"),
        CheckConstraint("run_number >= 1", name="run_number_positive"),
        CheckConstraint(
            "tokens_in >= 0 AND tokens_out >= 0 AND cost_usd >= 0", name="usage_nonnegative"
        ),
        CheckConstraint(
            "duration_seconds IS NULL OR duration_seconds >= 0", name="duration_nonnegative"
        ),
        CheckConstraint(
            "(memory_usage_mb IS NULL OR memory_usage_mb >= 0) "
            "AND (cpu_time_ms IS NULL OR cpu_time_ms >= 0)",
            name="resources_nonnegative",
        ),
        Index("ix_task_runs_task_started", "task_id", "started_at"),
        Index("ix_task_runs_status", "status"),
        # A task's queued run, looked up by every enqueue, claim and begin (migration 0009).
        Index(
            "ix_task_runs_queued",
            "task_id",
            "run_number",
            postgresql_where=text("status = 'PENDING'"),
            sqlite_where=text("status = 'PENDING'"),
        ),
        Index(
            "ix_task_runs_trace_id",
            "trace_id",
            postgresql_where=text("trace_id IS NOT NULL"),
            sqlite_where=text("trace_id IS NOT NULL"),
        ),
    )

    task_id: Mapped[uuid.UUID] = owner_fk("tasks.id", index=False)
    run_number: Mapped[int]
    status: Mapped[RunStatus] = mapped_column(
        str_enum(RunStatus, "status"), default=RunStatus.PENDING, server_default="PENDING"
    )
    agent_id: Mapped[uuid.UUID | None] = shared_fk("agents.id")
    agent_type: Mapped[AgentType | None] = mapped_column(str_enum(AgentType, "agent_type"))

    plan: Mapped[dict[str, Any] | None]
    plan_status: Mapped[ApprovalStatus | None] = mapped_column(
        str_enum(ApprovalStatus, "plan_status")
    )
    plan_decided_by: Mapped[str | None] = mapped_column(String(255))
    plan_decided_at: Mapped[datetime | None]
    plan_comment: Mapped[str | None] = mapped_column(Text)

    input_context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    results: Mapped[dict[str, Any] | None]
    error_message: Mapped[str | None] = mapped_column(Text)
    error_details: Mapped[dict[str, Any] | None]

    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    duration_seconds: Mapped[float | None]
    memory_usage_mb: Mapped[int | None]
    cpu_time_ms: Mapped[int | None]

    git_branch: Mapped[str | None] = mapped_column(String(255))
    git_commit: Mapped[str | None] = mapped_column(String(64))
    pr_url: Mapped[str | None] = mapped_column(String(500))

    tokens_in: Mapped[int] = mapped_column(default=0, server_default="0")
    tokens_out: Mapped[int] = mapped_column(default=0, server_default="0")
    cost_usd: Mapped[Decimal] = mapped_column(
        Numeric(14, 6), default=Decimal(0), server_default="0"
    )

    #: The conversation this run belongs to (issue 12's sessions), if any.
    session_id: Mapped[uuid.UUID | None] = shared_fk("sessions.id")
    #: The OpenTelemetry trace this run was recorded from, and its root span.
    trace_id: Mapped[str | None] = mapped_column(String(32))
    span_id: Mapped[str | None] = mapped_column(String(16))

    task: Mapped[Task] = relationship(back_populates="runs", lazy="raise_on_sql")
    agent: Mapped[Agent | None] = relationship(lazy="raise_on_sql")
    agent_runs: Mapped[list[AgentRun]] = relationship(
        back_populates="run", passive_deletes=True, lazy="raise_on_sql"
    )
    artifacts: Mapped[list[Artifact]] = relationship(
        back_populates="run", passive_deletes=True, lazy="raise_on_sql"
    )
    events: WriteOnlyMapped[Event] = relationship(passive_deletes=True)

    def __repr__(self) -> str:
        return f"<TaskRun {self.id} task={self.task_id} #{self.run_number} {self.status}>"

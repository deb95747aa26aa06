"""Tasks (seeds 000, 001, 004) and the dependency edges between them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    desc,
    text,
)
from sqlalchemy.orm import Mapped, WriteOnlyMapped, mapped_column, relationship

from flightlog.db.base import Base, CreatedAt, Timestamps, UuidPk, str_enum
from flightlog.enums import AgentType, TaskStatus
from flightlog.models._columns import owner_fk, shared_fk

if TYPE_CHECKING:
    from flightlog.models.agent import Agent
    from flightlog.models.agent_run import AgentRun
    from flightlog.models.artifact import Artifact
    from flightlog.models.event import Event
    from flightlog.models.metric import MetricPoint
    from flightlog.models.project import Project
    from flightlog.models.run import TaskRun
    from flightlog.models.tenancy import Customer

#: The text PostgreSQL's full-text index (``ix_tasks_search_gin``, made by migration 0002)
#: covers; a search must use the same expression for the planner to pick the index.
TASK_SEARCH_DOCUMENT = (
    "coalesce(title, '') || ' ' || coalesce(description, '') || ' ' || coalesce(input_prompt, '')"
)
TASK_SEARCH_VECTOR = f"to_tsvector('english', {TASK_SEARCH_DOCUMENT})"


class Task(UuidPk, Timestamps, Base):
    """A unit of work for a team of agents.

    The statistics columns (``total_runs`` … ``avg_duration_seconds``) are a
    cache of what the task's runs say; the run service updates them in the
    same transaction as the run, so they never disagree.
    """

    __tablename__ = "tasks"
    __table_args__ = (
        CheckConstraint("max_rounds >= 1", name="max_rounds_positive"),
        CheckConstraint("memory_size >= 1", name="memory_size_positive"),
        CheckConstraint(
            "total_runs >= 0 AND successful_runs >= 0 AND failed_runs >= 0 "
            "AND successful_runs + failed_runs <= total_runs",
            name="run_counts_consistent",
        ),
        CheckConstraint("success_rate >= 0 AND success_rate <= 100", name="success_rate_range"),
        CheckConstraint("parent_task_id IS NULL OR parent_task_id <> id", name="not_own_parent"),
        Index("ix_tasks_customer_status_created", "customer_id", "status", "created_at"),
        Index("ix_tasks_customer_id_id", "customer_id", "id"),
        # OpenTelemetry ingest finds a workflow's task by its title (issue 12).
        Index("ix_tasks_customer_title", "customer_id", "title"),
        Index("ix_tasks_claimable", "status", "priority", "lease_expires_at"),
        # The ready queue reads one customer's PENDING tasks in this order (migration 0009).
        Index(
            "ix_tasks_pending",
            "customer_id",
            desc("priority"),
            "id",
            postgresql_where=text("status = 'PENDING'"),
            sqlite_where=text("status = 'PENDING'"),
        ),
        Index("ix_tasks_tags_gin", "tags", postgresql_using="gin").ddl_if(dialect="postgresql"),
        Index("ix_tasks_requirements_gin", "requirements", postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
        Index("ix_tasks_context_gin", "context", postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
    )

    customer_id: Mapped[uuid.UUID] = owner_fk("customers.id", index=False)
    project_id: Mapped[uuid.UUID | None] = owner_fk("projects.id", nullable=True)
    parent_task_id: Mapped[uuid.UUID | None] = owner_fk("tasks.id", nullable=True)
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    input_prompt: Mapped[str | None] = mapped_column(Text)
    status: Mapped[TaskStatus] = mapped_column(
        str_enum(TaskStatus, "status"), default=TaskStatus.PENDING, server_default="PENDING"
    )
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    requirements: Mapped[dict[str, Any]] = mapped_column(default=dict)
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tags: Mapped[list[str]] = mapped_column(default=list)
    max_rounds: Mapped[int] = mapped_column(default=5, server_default="5")
    memory_size: Mapped[int] = mapped_column(default=50, server_default="50")
    assigned_agent_id: Mapped[uuid.UUID | None] = shared_fk("agents.id")
    assigned_agent_type: Mapped[AgentType | None] = mapped_column(
        str_enum(AgentType, "assigned_agent_type")
    )
    result_summary: Mapped[str | None] = mapped_column(Text)

    total_runs: Mapped[int] = mapped_column(default=0, server_default="0")
    successful_runs: Mapped[int] = mapped_column(default=0, server_default="0")
    failed_runs: Mapped[int] = mapped_column(default=0, server_default="0")
    success_rate: Mapped[float] = mapped_column(default=0.0, server_default="0")
    avg_duration_seconds: Mapped[float | None]
    last_run_at: Mapped[datetime | None]

    claimed_by: Mapped[str | None] = mapped_column(String(255))
    lease_expires_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]

    customer: Mapped[Customer] = relationship(lazy="raise_on_sql")
    project: Mapped[Project | None] = relationship(lazy="raise_on_sql")
    assigned_agent: Mapped[Agent | None] = relationship(lazy="raise_on_sql")
    parent: Mapped[Task | None] = relationship(
        back_populates="subtasks", remote_side="Task.id", lazy="raise_on_sql"
    )
    subtasks: Mapped[list[Task]] = relationship(
        back_populates="parent", passive_deletes=True, lazy="raise_on_sql"
    )
    runs: Mapped[list[TaskRun]] = relationship(
        back_populates="task",
        passive_deletes=True,
        lazy="raise_on_sql",
        order_by="TaskRun.run_number",
    )
    agent_runs: Mapped[list[AgentRun]] = relationship(
        back_populates="task", passive_deletes=True, lazy="raise_on_sql"
    )
    artifacts: Mapped[list[Artifact]] = relationship(
        back_populates="task", passive_deletes=True, lazy="raise_on_sql"
    )
    #: Unbounded streams: write-only, read them with a query (keyset pages).
    events: WriteOnlyMapped[Event] = relationship(passive_deletes=True)
    metric_points: WriteOnlyMapped[MetricPoint] = relationship(passive_deletes=True)

    def __repr__(self) -> str:
        return f"<Task {self.id} {self.title!r} {self.status}>"


class TaskDependency(CreatedAt, Base):
    """``task_id`` cannot become ready before ``depends_on_id`` has completed.

    Cycles are refused by the task service before insert; the CHECK here
    only stops the trivial one (a task depending on itself).
    """

    __tablename__ = "task_dependencies"
    __table_args__ = (CheckConstraint("task_id <> depends_on_id", name="not_self"),)

    task_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True
    )
    depends_on_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True, index=True
    )

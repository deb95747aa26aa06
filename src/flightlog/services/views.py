"""The reporting views of seed 004, read tenant by tenant.

Migration 0003 creates ``active_tasks``, ``task_execution_summary`` and
``pr_validation_status``. They are described here as ``Table`` objects on a
MetaData of their own, not ``Base.metadata``: Alembic compares that one
with the database and would try to create (or drop) the views as tables.
The column types give back the same Python values as the ORM (UUIDs, aware
UTC datetimes, Decimal money) on both dialects.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    Numeric,
    Select,
    String,
    Table,
    Uuid,
    select,
)
from sqlalchemy.orm import Session

from flightlog.db.types import UtcDateTime
from flightlog.enums import AgentType, PullRequestStatus, TaskStatus
from flightlog.errors import NotFound, ValidationError
from flightlog.models import Project
from flightlog.services._common import get_owned, require

MAX_PAGE_SIZE = 500

#: Views only: never handed to Alembic or ``create_all``.
view_metadata = MetaData()

active_tasks_view = Table(
    "active_tasks",
    view_metadata,
    Column("task_id", Uuid()),
    Column("customer_id", Uuid()),
    Column("project_id", Uuid()),
    Column("project_name", String(255)),
    Column("parent_task_id", Uuid()),
    Column("title", String(500)),
    Column("status", String(32)),
    Column("priority", Integer()),
    Column("assigned_agent_id", Uuid()),
    Column("assigned_agent_type", String(32)),
    Column("claimed_by", String(255)),
    Column("lease_expires_at", UtcDateTime()),
    Column("total_runs", Integer()),
    Column("created_at", UtcDateTime()),
    Column("updated_at", UtcDateTime()),
    Column("open_dependencies", Integer()),
)

task_execution_summary_view = Table(
    "task_execution_summary",
    view_metadata,
    Column("task_id", Uuid()),
    Column("customer_id", Uuid()),
    Column("project_id", Uuid()),
    Column("title", String(500)),
    Column("status", String(32)),
    Column("total_executions", Integer()),
    Column("successful_executions", Integer()),
    Column("failed_executions", Integer()),
    Column("cancelled_executions", Integer()),
    Column("active_executions", Integer()),
    Column("avg_duration_seconds", Float()),
    Column("max_duration_seconds", Float()),
    Column("last_started_at", UtcDateTime()),
    Column("last_completed_at", UtcDateTime()),
    Column("tokens_in", Integer()),
    Column("tokens_out", Integer()),
    Column("cost_usd", Numeric(14, 6)),
)

pr_validation_status_view = Table(
    "pr_validation_status",
    view_metadata,
    Column("pull_request_id", Uuid()),
    Column("project_id", Uuid()),
    Column("task_id", Uuid()),
    Column("pr_number", Integer()),
    Column("repository_url", String(500)),
    Column("branch_name", String(255)),
    Column("title", String(500)),
    Column("status", String(32)),
    Column("total_checks", Integer()),
    Column("passed_checks", Integer()),
    Column("failed_checks", Integer()),
    Column("pending_checks", Integer()),
    Column("skipped_checks", Integer()),
    Column("validation_state", String(16)),
    Column("last_checked_at", UtcDateTime()),
)


class ValidationState(StrEnum):
    """A pull request's overall validation, as the view computes it (any letter case)."""

    NOT_RUN = "NOT_RUN"
    FAILED = "FAILED"
    PENDING = "PENDING"
    PASSED = "PASSED"

    @classmethod
    def _missing_(cls, value: object) -> ValidationState | None:
        if isinstance(value, str):
            return cls.__members__.get(value.strip().upper())
        return None


@dataclass(frozen=True)
class ActiveTask:
    """A PENDING or RUNNING task, and how many of its dependencies are still open."""

    task_id: uuid.UUID
    customer_id: uuid.UUID
    project_id: uuid.UUID | None
    project_name: str | None
    parent_task_id: uuid.UUID | None
    title: str
    status: TaskStatus
    priority: int
    assigned_agent_id: uuid.UUID | None
    assigned_agent_type: AgentType | None
    claimed_by: str | None
    lease_expires_at: datetime | None
    total_runs: int
    created_at: datetime
    updated_at: datetime
    open_dependencies: int


@dataclass(frozen=True)
class TaskExecutionSummary:
    """Counts, durations, tokens and cost of a task's runs, computed from the runs."""

    task_id: uuid.UUID
    customer_id: uuid.UUID
    project_id: uuid.UUID | None
    title: str
    status: TaskStatus
    total_executions: int
    successful_executions: int
    failed_executions: int
    cancelled_executions: int
    active_executions: int
    avg_duration_seconds: float | None
    max_duration_seconds: float | None
    last_started_at: datetime | None
    last_completed_at: datetime | None
    tokens_in: int
    tokens_out: int
    cost_usd: Decimal


@dataclass(frozen=True)
class PrValidationStatus:
    """A pull request's checks counted by outcome, and its overall state."""

    pull_request_id: uuid.UUID
    project_id: uuid.UUID
    task_id: uuid.UUID | None
    pr_number: int | None
    repository_url: str
    branch_name: str
    title: str
    status: PullRequestStatus
    total_checks: int
    passed_checks: int
    failed_checks: int
    pending_checks: int
    skipped_checks: int
    validation_state: ValidationState
    last_checked_at: datetime | None


def _active_task(row: Any) -> ActiveTask:
    values = dict(row._mapping)
    values["status"] = TaskStatus(values["status"])
    if values["assigned_agent_type"] is not None:
        values["assigned_agent_type"] = AgentType(values["assigned_agent_type"])
    values["open_dependencies"] = int(values["open_dependencies"])
    return ActiveTask(**values)


def _summary(row: Any) -> TaskExecutionSummary:
    values = dict(row._mapping)
    values["status"] = TaskStatus(values["status"])
    for name in ("avg_duration_seconds", "max_duration_seconds"):
        if values[name] is not None:
            values[name] = float(values[name])
    for name in (
        "total_executions",
        "successful_executions",
        "failed_executions",
        "cancelled_executions",
        "active_executions",
        "tokens_in",
        "tokens_out",
    ):
        values[name] = int(values[name])
    values["cost_usd"] = Decimal(values["cost_usd"])
    return TaskExecutionSummary(**values)


def _pr_status(row: Any) -> PrValidationStatus:
    values = dict(row._mapping)
    values["status"] = PullRequestStatus(values["status"])
    values["validation_state"] = ValidationState(values["validation_state"])
    for name in (
        "total_checks",
        "passed_checks",
        "failed_checks",
        "pending_checks",
        "skipped_checks",
    ):
        values[name] = int(values[name])
    return PrValidationStatus(**values)


def _limit(limit: int) -> None:
    require(1 <= limit <= MAX_PAGE_SIZE, f"limit must be between 1 and {MAX_PAGE_SIZE}")


def _check_project(session: Session, customer_id: uuid.UUID, project_id: uuid.UUID | None) -> None:
    """A ``project_id`` filter that is not the customer's is :class:`NotFound`, as for the
    event log, rather than an empty list."""
    if project_id is not None:
        get_owned(session, Project, project_id, customer_id=customer_id)


def active_tasks(
    session: Session,
    customer_id: uuid.UUID,
    /,
    *,
    project_id: uuid.UUID | None = None,
    limit: int = 100,
) -> list[ActiveTask]:
    """Work still to do, highest priority first, then oldest first."""
    _limit(limit)
    _check_project(session, customer_id, project_id)
    v = active_tasks_view
    stmt = select(v).where(v.c.customer_id == customer_id)
    if project_id is not None:
        stmt = stmt.where(v.c.project_id == project_id)
    stmt = stmt.order_by(v.c.priority.desc(), v.c.created_at, v.c.task_id).limit(limit)
    return [_active_task(row) for row in (session.execute(stmt)).all()]


def task_execution_summaries(
    session: Session,
    customer_id: uuid.UUID,
    /,
    *,
    project_id: uuid.UUID | None = None,
    limit: int = 100,
) -> list[TaskExecutionSummary]:
    """One summary per task of the customer, newest task first."""
    _limit(limit)
    _check_project(session, customer_id, project_id)
    v = task_execution_summary_view
    stmt = select(v).where(v.c.customer_id == customer_id)
    if project_id is not None:
        stmt = stmt.where(v.c.project_id == project_id)
    stmt = stmt.order_by(v.c.task_id.desc()).limit(limit)
    return [_summary(row) for row in (session.execute(stmt)).all()]


def task_execution_summary(
    session: Session, customer_id: uuid.UUID, /, task_id: uuid.UUID
) -> TaskExecutionSummary:
    """One task's summary, or :class:`NotFound` (also for another customer's task)."""
    v = task_execution_summary_view
    stmt = select(v).where(v.c.task_id == task_id, v.c.customer_id == customer_id)
    row = (session.execute(stmt)).first()
    if row is None:
        raise NotFound(f"Task {task_id} not found", entity="Task", id=str(task_id))
    return _summary(row)


def _pr_statement(customer_id: uuid.UUID) -> Select[Any]:
    v = pr_validation_status_view
    return (
        select(v)
        .join(Project, Project.id == v.c.project_id)
        .where(Project.customer_id == customer_id)
    )


def pr_validation_statuses(
    session: Session,
    customer_id: uuid.UUID,
    /,
    *,
    project_id: uuid.UUID | None = None,
    state: ValidationState | str | None = None,
    limit: int = 100,
) -> list[PrValidationStatus]:
    """The validation state of the customer's pull requests, newest first."""
    _limit(limit)
    _check_project(session, customer_id, project_id)
    v = pr_validation_status_view
    stmt = _pr_statement(customer_id)
    if project_id is not None:
        stmt = stmt.where(v.c.project_id == project_id)
    if state is not None:
        try:
            wanted = ValidationState(state)
        except ValueError:
            raise ValidationError(
                f"unknown validation state {state!r}; expected one of {', '.join(ValidationState)}"
            ) from None
        stmt = stmt.where(v.c.validation_state == wanted.value)
    stmt = stmt.order_by(v.c.pull_request_id.desc()).limit(limit)
    return [_pr_status(row) for row in (session.execute(stmt)).all()]


def pr_validation_status(
    session: Session, customer_id: uuid.UUID, /, pull_request_id: uuid.UUID
) -> PrValidationStatus:
    """One pull request's validation, or :class:`NotFound` (also for another customer's)."""
    stmt = _pr_statement(customer_id).where(
        pr_validation_status_view.c.pull_request_id == pull_request_id
    )
    row = (session.execute(stmt)).first()
    if row is None:
        raise NotFound(
            f"PullRequest {pull_request_id} not found",
            entity="PullRequest",
            id=str(pull_request_id),
        )
    return _pr_status(row)


__all__ = [
    "ActiveTask",
    "PrValidationStatus",
    "TaskExecutionSummary",
    "ValidationState",
    "active_tasks",
    "active_tasks_view",
    "pr_validation_status",
    "pr_validation_status_view",
    "pr_validation_statuses",
    "task_execution_summaries",
    "task_execution_summary",
    "task_execution_summary_view",
    "view_metadata",
]

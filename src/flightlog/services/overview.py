"""One customer's situation at a glance: what the dashboard's front page shows.

Everything is scoped by the customer in SQL (runs and agent runs through
their task), and computed with a handful of grouped queries, not by loading rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from flightlog.enums import (
    ApprovalStatus,
    ModificationStatus,
    PullRequestStatus,
    RunStatus,
)
from flightlog.models import (
    Agent,
    AgentRun,
    Approval,
    Modification,
    Project,
    PullRequest,
    Task,
    TaskRun,
)
from flightlog.services._common import require


@dataclass(frozen=True)
class AgentLoad:
    """How much one agent (by name) has done, and what it cost."""

    agent_name: str
    agent_runs: int
    completed: int
    tokens: int
    cost_usd: Decimal


@dataclass(frozen=True)
class RecentFailure:
    task_id: uuid.UUID
    task_title: str
    run_id: uuid.UUID
    run_number: int
    status: RunStatus
    error_message: str | None
    completed_at: datetime | None


@dataclass
class Overview:
    """Counts by status, the run success rate, who is busiest, what waits for a person."""

    tasks_by_status: dict[str, int] = field(default_factory=dict)
    runs_by_status: dict[str, int] = field(default_factory=dict)
    run_success_rate: float | None = None
    tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    agents: int = 0
    busiest_agents: list[AgentLoad] = field(default_factory=list)
    waiting_for_a_person: dict[str, int] = field(default_factory=dict)
    recent_failures: list[RecentFailure] = field(default_factory=list)


_FAILED = (RunStatus.FAILED.value, RunStatus.TIMEOUT.value)


#: The longest busiest-agent and failure lists an overview holds.
MAX_TOP = 100


def customer_overview(session: Session, customer_id: uuid.UUID, /, *, top: int = 5) -> Overview:
    """The customer's overview; ``top`` (1 to 100) bounds the busiest-agent and failure lists."""
    require(1 <= top <= MAX_TOP, f"top must be between 1 and {MAX_TOP}, got {top}")
    view = Overview()
    mine = Task.customer_id == customer_id
    rows = session.execute(select(Task.status, func.count()).where(mine).group_by(Task.status))
    view.tasks_by_status = {str(status): int(n) for status, n in rows}
    rows = session.execute(
        select(TaskRun.status, func.count(), func.sum(TaskRun.tokens_in + TaskRun.tokens_out))
        .join(Task, Task.id == TaskRun.task_id)
        .where(mine)
        .group_by(TaskRun.status)
    )
    for status, n, tokens in rows:
        view.runs_by_status[str(status)] = int(n)
        view.tokens += int(tokens or 0)
    view.cost_usd = Decimal(
        session.scalar(
            select(func.coalesce(func.sum(TaskRun.cost_usd), 0))
            .join(Task, Task.id == TaskRun.task_id)
            .where(mine)
        )
        or 0
    )
    # A run's totals are its agent runs'; agent runs of a task alone (seed 001) count here.
    runless_tokens, runless_cost = session.execute(
        select(
            func.coalesce(func.sum(AgentRun.tokens_in + AgentRun.tokens_out), 0),
            func.coalesce(func.sum(AgentRun.cost_usd), 0),
        )
        .join(Task, Task.id == AgentRun.task_id)
        .where(mine, AgentRun.run_id.is_(None))
    ).one()
    view.tokens += int(runless_tokens or 0)
    view.cost_usd += Decimal(str(runless_cost or 0))
    ok = view.runs_by_status.get(RunStatus.COMPLETED.value, 0)
    bad = sum(view.runs_by_status.get(s, 0) for s in _FAILED)
    view.run_success_rate = round(100.0 * ok / (ok + bad), 1) if ok + bad else None
    view.agents = int(
        session.scalar(select(func.count(Agent.id)).where(Agent.customer_id == customer_id)) or 0
    )
    busiest = session.execute(
        select(
            AgentRun.agent_name,
            func.count(),
            func.sum(case((AgentRun.status == "COMPLETED", 1), else_=0)),
            func.coalesce(func.sum(AgentRun.tokens_in + AgentRun.tokens_out), 0),
            func.coalesce(func.sum(AgentRun.cost_usd), 0),
        )
        .join(Task, Task.id == AgentRun.task_id)
        .where(mine)
        .group_by(AgentRun.agent_name)
        .order_by(func.count().desc(), AgentRun.agent_name)
        .limit(top)
    )
    view.busiest_agents = [
        AgentLoad(name, int(n), int(done or 0), int(tokens), Decimal(cost))
        for name, n, done, tokens, cost in busiest
    ]
    view.waiting_for_a_person = waiting_counts(session, customer_id)
    failures = session.execute(
        select(
            Task.id,
            Task.title,
            TaskRun.id,
            TaskRun.run_number,
            TaskRun.status,
            TaskRun.error_message,
            TaskRun.completed_at,
        )
        .join(Task, Task.id == TaskRun.task_id)
        .where(mine, TaskRun.status.in_(_FAILED))
        .order_by(TaskRun.completed_at.desc(), TaskRun.id.desc())
        .limit(top)
    )
    view.recent_failures = [RecentFailure(*row) for row in failures]
    return view


def waiting_counts(session: Session, customer_id: uuid.UUID, /) -> dict[str, int]:
    """How many of each kind of thing wait for a person (the dashboard's navigation count)."""

    def count(stmt: object) -> int:
        return int(session.scalar(stmt) or 0)  # type: ignore[call-overload]

    plans = (
        select(func.count(TaskRun.id))
        .join(Task, Task.id == TaskRun.task_id)
        .where(Task.customer_id == customer_id, TaskRun.status == RunStatus.WAITING_APPROVAL.value)
    )
    approvals = select(func.count(Approval.id)).where(
        Approval.customer_id == customer_id, Approval.status == ApprovalStatus.PENDING.value
    )
    modifications = (
        select(func.count(Modification.id))
        .join(Project, Project.id == Modification.project_id)
        .where(
            Project.customer_id == customer_id,
            Modification.status == ModificationStatus.PENDING.value,
        )
    )
    reviews = (
        select(func.count(PullRequest.id))
        .join(Project, Project.id == PullRequest.project_id)
        .where(
            Project.customer_id == customer_id,
            PullRequest.status.in_(
                [PullRequestStatus.OPEN.value, PullRequestStatus.CHANGES_REQUESTED.value]
            ),
        )
    )
    return {
        "run plans": count(plans),
        "recommendations": count(approvals),
        "modifications": count(modifications),
        "pull requests": count(reviews),
    }


@dataclass(frozen=True)
class WaitingPlan:
    task_id: uuid.UUID
    task_title: str
    run_id: uuid.UUID
    run_number: int
    plan: dict[str, object] | None
    started_at: datetime | None


@dataclass(frozen=True)
class WaitingModification:
    id: uuid.UUID
    project_name: str
    title: str | None
    request: str
    requested_by: str | None
    created_at: datetime


def plans_waiting(
    session: Session, customer_id: uuid.UUID, /, limit: int = 100
) -> list[WaitingPlan]:
    """Runs whose plan waits for a person's decision, oldest first."""
    rows = session.execute(
        select(
            Task.id, Task.title, TaskRun.id, TaskRun.run_number, TaskRun.plan, TaskRun.started_at
        )
        .join(Task, Task.id == TaskRun.task_id)
        .where(Task.customer_id == customer_id, TaskRun.status == RunStatus.WAITING_APPROVAL.value)
        .order_by(TaskRun.created_at, TaskRun.id)
        .limit(limit)
    )
    return [WaitingPlan(*row) for row in rows]


def modifications_waiting(
    session: Session, customer_id: uuid.UUID, /, limit: int = 100
) -> list[WaitingModification]:
    """Modification requests that wait for a decision, across the customer's projects."""
    rows = session.execute(
        select(
            Modification.id,
            Project.name,
            Modification.title,
            Modification.request,
            Modification.requested_by,
            Modification.created_at,
        )
        .join(Project, Project.id == Modification.project_id)
        .where(
            Project.customer_id == customer_id,
            Modification.status == ModificationStatus.PENDING.value,
        )
        .order_by(Modification.created_at, Modification.id)
        .limit(limit)
    )
    return [WaitingModification(*row) for row in rows]

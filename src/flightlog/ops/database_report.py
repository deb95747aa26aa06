"""What a Flightlog database holds: counts, outcomes, busiest agents, pending approvals, size."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, case, func, select, text

from flightlog import models as m
from flightlog.enums import (
    ApprovalStatus,
    ModificationStatus,
    PullRequestStatus,
    RecommendationStatus,
    RunStatus,
)

#: Report names for the tables a person cares about, in display order.
ENTITIES = {
    "customers": m.Customer,
    "projects": m.Project,
    "agents": m.Agent,
    "tasks": m.Task,
    "task_runs": m.TaskRun,
    "agent_runs": m.AgentRun,
    "events": m.Event,
    "metric_points": m.MetricPoint,
    "artifacts": m.Artifact,
    "recommendations": m.Recommendation,
    "optimizations": m.Optimization,
    "modifications": m.Modification,
    "pull_requests": m.PullRequest,
    "templates": m.Template,
    "project_contexts": m.ProjectContext,
}


@dataclass
class DatabaseStats:
    """A snapshot for ``flightlog stats`` (and the demo's report)."""

    database: str
    revision: str | None
    size_bytes: int | None
    counts: dict[str, int] = field(default_factory=dict)
    runs_by_status: dict[str, int] = field(default_factory=dict)
    run_success_rate: float | None = None
    busiest_agents: list[dict[str, Any]] = field(default_factory=list)
    pending_approvals: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _size(connection: Connection) -> int | None:
    if connection.dialect.name == "postgresql":
        return int(connection.scalar(text("SELECT pg_database_size(current_database())")) or 0)
    database = connection.engine.url.database
    if not database:
        return None
    files = [Path(database), Path(f"{database}-wal"), Path(f"{database}-shm")]
    return sum(os.path.getsize(f) for f in files if f.exists())


def collect(connection: Connection, *, database: str, revision: str | None) -> DatabaseStats:
    """Gather the statistics in one read transaction."""
    stats = DatabaseStats(database=database, revision=revision, size_bytes=_size(connection))
    for name, model in ENTITIES.items():
        stats.counts[name] = int(connection.scalar(select(func.count()).select_from(model)) or 0)
    rows = connection.execute(select(m.TaskRun.status, func.count()).group_by(m.TaskRun.status))
    stats.runs_by_status = {str(status): int(n) for status, n in rows}
    ok = stats.runs_by_status.get(RunStatus.COMPLETED.value, 0)
    bad = sum(stats.runs_by_status.get(s.value, 0) for s in (RunStatus.FAILED, RunStatus.TIMEOUT))
    stats.run_success_rate = round(100.0 * ok / (ok + bad), 1) if ok + bad else None
    busiest = connection.execute(
        select(
            m.AgentRun.agent_name,
            func.count(),
            func.coalesce(func.sum(m.AgentRun.tokens_in + m.AgentRun.tokens_out), 0),
            func.coalesce(func.sum(m.AgentRun.cost_usd), 0),
            func.sum(case((m.AgentRun.status == "COMPLETED", 1), else_=0)),
        )
        .group_by(m.AgentRun.agent_name)
        .order_by(func.count().desc(), m.AgentRun.agent_name)
        .limit(5)
    )
    stats.busiest_agents = [
        {
            "agent": name,
            "agent_runs": int(runs),
            "tokens": int(tokens),
            "cost_usd": str(cost),
            "completed": int(done or 0),
        }
        for name, runs, tokens, cost, done in busiest
    ]

    def count(model: Any, condition: Any) -> int:
        return int(connection.scalar(select(func.count()).select_from(model).where(condition)) or 0)

    stats.pending_approvals = {
        "run_plans": count(m.TaskRun, m.TaskRun.status == RunStatus.WAITING_APPROVAL.value),
        "recommendations": count(
            m.Recommendation, m.Recommendation.status == RecommendationStatus.PENDING.value
        ),
        "approvals": count(m.Approval, m.Approval.status == ApprovalStatus.PENDING.value),
        "modifications": count(
            m.Modification, m.Modification.status == ModificationStatus.PENDING.value
        ),
        "pull_requests": count(
            m.PullRequest,
            m.PullRequest.status.in_(
                [PullRequestStatus.OPEN.value, PullRequestStatus.CHANGES_REQUESTED.value]
            ),
        ),
    }
    return stats

"""Which rows of each table belong to an export scope: all, a customer, a project or a task.

Each scope is expressed as SQL subqueries, never as Python lists of ids, so
exporting a customer with a million events needs no million-element IN list.
A project or task scope also carries the rows its rows point at (the
customer, the project, referenced agents, the sessions of its runs), so the
file imports on its own.

OpenTelemetry ingest (issue 12) adds three tables. ``sessions`` and the span
ledger ``otlp_spans`` belong to a customer: a customer scope carries all of
its own; a project or task scope carries the sessions its runs belong to and
the ledger rows of its runs (a span still waiting for its parent has no run
yet, so it travels with the customer alone). ``model_prices`` is the
operator's table, shared by every customer, so only a whole-database export
carries it, as it carries every table.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Select, false, or_, select, union
from sqlalchemy.sql.elements import ColumnElement

from flightlog import models as m

ScopeKind = Literal["all", "customer", "project", "task"]
#: Tables no scope carries: one-time dashboard sign-in links (decision 0012) are minutes
#: long and bound to the server that printed them, worth nothing in another database.
NEVER_EXPORTED = frozenset({"local_sign_ins"})


@dataclass(frozen=True)
class Scope:
    """What to export."""

    kind: ScopeKind = "all"
    id: uuid.UUID | None = None

    def describe(self) -> dict[str, str | None]:
        return {"kind": self.kind, "id": str(self.id) if self.id else None}


def _task_tree(root_filter: ColumnElement[bool]) -> Select[Any]:
    """Ids of the matching tasks and all their subtasks, at any depth."""
    tree = select(m.Task.id.label("id")).where(root_filter).cte("task_tree", recursive=True)
    tree = tree.union_all(select(m.Task.id).where(m.Task.parent_task_id == tree.c.id))
    return select(tree.c.id)


@dataclass(frozen=True)
class ScopeFilters:
    """A WHERE clause per table name (absent: the table is not exported in this scope)."""

    where: dict[str, ColumnElement[bool] | None]

    def for_table(self, name: str) -> tuple[bool, ColumnElement[bool] | None]:
        if name not in self.where:
            return False, None
        return True, self.where[name]


def build_filters(scope: Scope, *, customer_id: uuid.UUID | None) -> ScopeFilters:
    """The per-table filters of a scope; ``customer_id`` is the scope's owning customer."""
    if scope.kind == "all":
        return ScopeFilters(
            {table: None for table in m.Base.metadata.tables if table not in NEVER_EXPORTED}
        )
    assert scope.id is not None
    assert customer_id is not None
    tasks: Select[Any]
    projects: Select[Any]
    if scope.kind == "customer":
        tasks = select(m.Task.id).where(m.Task.customer_id == customer_id)
        projects = select(m.Project.id).where(m.Project.customer_id == customer_id)
        recommendations = select(m.Recommendation.id).where(
            m.Recommendation.customer_id == customer_id
        )
    elif scope.kind == "project":
        tasks = _task_tree(m.Task.project_id == scope.id)
        projects = select(m.Project.id).where(m.Project.id == scope.id)
        recommendations = select(m.Recommendation.id).where(m.Recommendation.project_id == scope.id)
    else:
        tasks = _task_tree(m.Task.id == scope.id)
        projects = select(m.Task.project_id).where(m.Task.id == scope.id)
        recommendations = select(m.Recommendation.id).where(false())

    runs = select(m.TaskRun.id).where(m.TaskRun.task_id.in_(tasks))
    sessions: ColumnElement[bool]
    spans: ColumnElement[bool]
    if scope.kind == "customer":
        sessions = m.AgentSession.customer_id == customer_id
        spans = m.OtlpSpan.customer_id == customer_id
    else:
        sessions = m.AgentSession.id.in_(
            select(m.TaskRun.session_id).where(
                m.TaskRun.task_id.in_(tasks), m.TaskRun.session_id.is_not(None)
            )
        )
        spans = m.OtlpSpan.run_id.in_(runs)
    whole_projects = scope.kind != "task"
    pull_requests = select(m.PullRequest.id).where(
        m.PullRequest.project_id.in_(projects)
        if whole_projects
        else m.PullRequest.task_id.in_(tasks)
    )
    where: dict[str, ColumnElement[bool] | None] = {
        "customers": m.Customer.id == customer_id,
        "projects": m.Project.id.in_(projects),
        "tasks": m.Task.id.in_(tasks),
        "task_dependencies": m.TaskDependency.task_id.in_(tasks)
        & m.TaskDependency.depends_on_id.in_(tasks),
        "sessions": sessions,
        "task_runs": m.TaskRun.task_id.in_(tasks),
        "agent_runs": m.AgentRun.task_id.in_(tasks),
        "events": m.Event.task_id.in_(tasks)
        if scope.kind != "customer"
        else or_(m.Event.customer_id == customer_id, m.Event.task_id.in_(tasks)),
        "metric_points": or_(m.MetricPoint.task_id.in_(tasks), m.MetricPoint.run_id.in_(runs)),
        "artifacts": m.Artifact.task_id.in_(tasks),
        "artifact_blobs": m.ArtifactBlob.sha256.in_(
            select(m.Artifact.sha256).where(m.Artifact.task_id.in_(tasks))
        ),
        "recommendations": m.Recommendation.id.in_(recommendations),
        "approvals": m.Approval.recommendation_id.in_(recommendations),
        "optimizations": m.Optimization.recommendation_id.in_(recommendations),
        "pull_requests": m.PullRequest.id.in_(pull_requests),
        "pull_request_checks": m.PullRequestCheck.pull_request_id.in_(pull_requests),
        "otlp_spans": spans,
    }
    if whole_projects:
        where["project_contexts"] = m.ProjectContext.project_id.in_(projects)
        where["modifications"] = m.Modification.project_id.in_(projects)
    if scope.kind == "customer":
        where["api_keys"] = m.ApiKey.customer_id == customer_id
        where["templates"] = m.Template.customer_id == customer_id
        where["agents"] = m.Agent.customer_id == customer_id
    else:
        referenced = union(
            select(m.Task.assigned_agent_id).where(m.Task.id.in_(tasks)),
            select(m.TaskRun.agent_id).where(m.TaskRun.task_id.in_(tasks)),
            select(m.AgentRun.agent_id).where(m.AgentRun.task_id.in_(tasks)),
            select(m.Event.agent_id).where(m.Event.task_id.in_(tasks)),
            select(m.Recommendation.agent_id).where(m.Recommendation.id.in_(recommendations)),
            select(m.Optimization.agent_id).where(
                m.Optimization.recommendation_id.in_(recommendations)
            ),
        )
        where["agents"] = m.Agent.id.in_(select(referenced.subquery().c[0]))
    return ScopeFilters(where)

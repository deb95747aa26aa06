"""Create, read, update and delete every aggregate, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

import factories as f
from flightlog import models as m
from flightlog.enums import (
    ApprovalStatus,
    ArtifactType,
    CustomerPlan,
    EventSeverity,
    ModificationStatus,
    OptimizationStatus,
    PullRequestStatus,
    RunStatus,
    TaskStatus,
    ValidationStatus,
)

Builder = Callable[[Session], Any]


def _approval(db: Session) -> m.Approval:
    rec = f.recommendation(db)
    row = m.Approval(recommendation_id=rec.id, customer_id=rec.customer_id)
    db.add(row)
    db.flush()
    return row


def _optimization(db: Session) -> m.Optimization:
    rec = f.recommendation(db)
    row = m.Optimization(recommendation_id=rec.id, customer_id=rec.customer_id)
    db.add(row)
    db.flush()
    return row


def _context(db: Session) -> m.ProjectContext:
    row = m.ProjectContext(
        project_id=f.project(db).id,
        iteration=1,
        codebase={"files": ["main.py"]},
        configuration={"python": "3.11"},
        test_coverage=81.5,
        security_score=90,
        performance_score=70,
    )
    db.add(row)
    db.flush()
    return row


def _template(db: Session) -> m.Template:
    row = m.Template(
        customer_id=f.customer(db).id,
        name="fastapi-service",
        files={"app.py": "print('{{name}}')"},
        required_variables=["name"],
        optional_variables=["port"],
        tech_stack=["python", "fastapi"],
        tags=["api"],
        complexity="medium",
        setup_time_minutes=15,
    )
    db.add(row)
    db.flush()
    return row


def _modification(db: Session) -> m.Modification:
    row = m.Modification(
        project_id=f.project(db).id,
        request="Add rate limiting",
        impact_analysis={"risk": "low"},
        affected_files=["app.py"],
    )
    db.add(row)
    db.flush()
    return row


def _api_key(db: Session) -> m.ApiKey:
    row = m.ApiKey(customer_id=f.customer(db).id, name="ci", prefix="fl_abc123", key_hash="h" * 64)
    db.add(row)
    db.flush()
    return row


def _dependency(db: Session) -> m.TaskDependency:
    a = f.task(db)
    b = f.task(db, customer_id=a.customer_id)
    row = m.TaskDependency(task_id=a.id, depends_on_id=b.id)
    db.add(row)
    db.flush()
    return row


def _check(db: Session) -> m.PullRequestCheck:
    row = m.PullRequestCheck(pull_request_id=f.pull_request(db).id, name="unit-tests")
    db.add(row)
    db.flush()
    return row


def _session(db: Session) -> m.AgentSession:
    row = m.AgentSession(customer_id=f.customer(db).id, external_id=f"conv-{uuid.uuid4().hex}")
    db.add(row)
    db.flush()
    return row


def _model_price(db: Session) -> m.ModelPrice:
    row = m.ModelPrice(
        model=f"model-{uuid.uuid4().hex[:8]}",
        input_usd_per_mtok=Decimal("2.5"),
        output_usd_per_mtok=Decimal("10"),
        effective_from=datetime(2025, 1, 1, tzinfo=UTC),
    )
    db.add(row)
    db.flush()
    return row


def _otlp_span(db: Session) -> m.OtlpSpan:
    parent = f.task(db)
    run = f.run(db, parent)
    row = m.OtlpSpan(
        customer_id=parent.customer_id,
        trace_id=uuid.uuid4().hex,
        span_id=uuid.uuid4().hex[:16],
        run_id=run.id,
    )
    db.add(row)
    db.flush()
    return row


def _local_sign_in(db: Session) -> m.LocalSignIn:
    row = m.LocalSignIn(
        token_hash=uuid.uuid4().hex * 2,
        customer_id=f.customer(db).id,
        expires_at=datetime.now(UTC) + timedelta(minutes=10),
    )
    db.add(row)
    db.flush()
    return row


# (builder, attribute to update, new value)
AGGREGATES: dict[str, tuple[Builder, str, Any]] = {
    "customer": (f.customer, "plan", CustomerPlan.ENTERPRISE),
    "api_key": (_api_key, "name", "deploy"),
    "project": (f.project, "default_branch", "develop"),
    "project_context": (_context, "security_score", 95.0),
    "template": (_template, "tags", ["api", "backend"]),
    "agent": (f.agent, "capabilities", ["code", "review"]),
    "task": (f.task, "status", TaskStatus.RUNNING),
    "task_dependency": (_dependency, "created_at", datetime(2030, 1, 1, tzinfo=UTC)),
    "task_run": (f.run, "status", RunStatus.RUNNING),
    "agent_run": (lambda db: f.agent_run(db, f.run(db)), "output_summary", "PRD written"),
    "event": (lambda db: f.event(db, f.task(db)), "severity", EventSeverity.WARNING),
    "metric_point": (lambda db: f.metric(db, f.task(db)), "value", 12.25),
    "artifact": (lambda db: f.artifact(db, f.task(db)), "artifact_type", ArtifactType.REPORT),
    "recommendation": (f.recommendation, "estimated_savings", Decimal("99.99")),
    "approval": (_approval, "status", ApprovalStatus.APPROVED),
    "optimization": (_optimization, "status", OptimizationStatus.EXECUTING),
    "modification": (_modification, "status", ModificationStatus.APPROVED),
    "pull_request": (f.pull_request, "status", PullRequestStatus.OPEN),
    "pull_request_check": (_check, "status", ValidationStatus.PASSED),
    "session": (_session, "title", "Refund for order 42"),
    "model_price": (_model_price, "output_usd_per_mtok", Decimal("12.5")),
    "otlp_span": (_otlp_span, "pending", None),
    "local_sign_in": (_local_sign_in, "used_at", datetime(2030, 1, 1, tzinfo=UTC)),
}


def _identity(row: Any) -> Any:
    mapper = row.__mapper__
    values = mapper.primary_key_from_instance(row)
    return values[0] if len(values) == 1 else tuple(values)


@pytest.mark.parametrize("aggregate", sorted(AGGREGATES))
def test_create_read_update_delete(session: Session, aggregate: str) -> None:
    build, attribute, new_value = AGGREGATES[aggregate]
    row = build(session)
    model = type(row)
    key = _identity(row)
    session.commit()
    session.expunge_all()

    loaded = session.get(model, key)
    assert loaded is not None
    created_at = (
        getattr(loaded, "created_at", None)
        or getattr(loaded, "recorded_at", None)
        or (getattr(loaded, "started_at", None))
    )
    if created_at is not None:
        assert created_at.tzinfo is not None
        assert abs(datetime.now(UTC) - created_at) < timedelta(minutes=5)

    setattr(loaded, attribute, new_value)
    session.commit()
    session.expunge_all()
    assert getattr(session.get(model, key), attribute) == new_value

    session.delete(session.get(model, key))
    session.commit()
    session.expunge_all()
    assert session.get(model, key) is None


def test_updated_at_moves_on_update(session: Session) -> None:
    row = f.customer(session)
    session.commit()
    first = row.updated_at
    row.name = "Renamed"
    session.commit()
    session.refresh(row)
    assert row.updated_at >= first
    assert row.created_at <= row.updated_at


def test_relationships_navigate_both_ways(session: Session) -> None:
    owner = f.customer(session)
    proj = f.project(session, owner=owner)
    parent = f.task(session, owner=owner, project_id=proj.id)
    child = f.task(session, owner=owner, parent_task_id=parent.id)
    first = f.run(session, parent, run_number=1)
    second = f.run(session, parent, run_number=2)
    outer = f.agent_run(session, first, agent_name="TeamLeader")
    f.agent_run(session, first, agent_name="Engineer", parent_id=outer.id)
    f.artifact(session, parent, run_id=first.id)
    pr = f.pull_request(session, proj, task_id=parent.id)
    session.add(m.PullRequestCheck(pull_request_id=pr.id, name="lint"))
    session.commit()
    session.expunge_all()

    loaded = session.scalars(
        select(m.Task)
        .where(m.Task.id == parent.id)
        .options(
            selectinload(m.Task.runs).selectinload(m.TaskRun.agent_runs),
            selectinload(m.Task.subtasks),
            selectinload(m.Task.artifacts),
            selectinload(m.Task.project).selectinload(m.Project.pull_requests),
        )
    ).one()
    assert [r.run_number for r in loaded.runs] == [1, 2]
    assert [r.id for r in loaded.runs] == [first.id, second.id]
    assert [s.id for s in loaded.subtasks] == [child.id]
    assert {a.agent_name for a in loaded.runs[0].agent_runs} == {"TeamLeader", "Engineer"}
    assert loaded.artifacts[0].run_id == first.id
    assert loaded.project is not None
    assert loaded.project.pull_requests[0].id == pr.id

    nested = session.scalars(
        select(m.AgentRun)
        .where(m.AgentRun.id == outer.id)
        .options(selectinload(m.AgentRun.children))
    ).one()
    assert [c.agent_name for c in nested.children] == ["Engineer"]

    events_stmt = loaded.events.select()
    f.event(session, loaded)
    assert session.scalar(select(func.count()).select_from(events_stmt.subquery())) == 1


def test_lazy_loading_is_refused_rather_than_hidden(session: Session) -> None:
    parent = f.task(session)
    f.run(session, parent)
    session.commit()
    session.expunge_all()
    loaded = session.get(m.Task, parent.id)
    assert loaded is not None
    with pytest.raises(Exception, match="raise_on_sql"):
        _ = loaded.runs


def test_json_round_trips_nested_values(session: Session) -> None:
    payload = {"diff": "--- a\n+++ b", "files": ["a.py", "b.py"], "ok": True, "n": 1.5, "x": None}
    row = f.task(session, requirements=payload, tags=["frontend", "ünïcode"])
    session.commit()
    session.expunge_all()
    loaded = session.get(m.Task, row.id)
    assert loaded is not None
    assert loaded.requirements == payload
    assert loaded.tags == ["frontend", "ünïcode"]


def test_seed_aliases_are_accepted(session: Session) -> None:
    """Seed 001 writes SUCCEEDED, seed 004 writes lower-case 'queued': both map onto our values."""
    row = f.task(session, status=TaskStatus("SUCCEEDED"))
    r = f.run(session, row, status=RunStatus("queued"))
    session.commit()
    session.expunge_all()
    assert session.get(m.Task, row.id).status is TaskStatus.COMPLETED  # type: ignore[union-attr]
    assert session.get(m.TaskRun, r.id).status is RunStatus.PENDING  # type: ignore[union-attr]

"""Seed 002's enum values (and seed 003/004's lower-case ones) are accepted in any case everywhere.

HTTP already took ``?status=pending``; the Python API, the models, queries
and the CLI take it too, and the database always stores the canonical
upper-case value (docs/schema.md, "Enums"). Unknown values are refused with
a clear ``ValidationError`` and change nothing.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from cli_runner import CliCase
from flightlog import ValidationError
from flightlog.enums import AgentType, CustomerPlan, TaskStatus
from flightlog.models import Agent, Customer, Task
from flightlog.store import SyncStore, open_store_sync


def _stored(session: Session, table: str, column: str, row_id: uuid.UUID) -> str:
    """The value as the database holds it, read past the ORM's type."""
    value = session.scalar(
        text(f"SELECT {column} FROM {table} WHERE CAST(id AS VARCHAR(36)) = :id"),
        {"id": str(row_id)},
    )
    if value is None:  # SQLite stores UUIDs without dashes
        value = session.scalar(
            text(f"SELECT {column} FROM {table} WHERE id = :id"), {"id": row_id.hex}
        )
    return str(value)


def test_seed002_models_and_queries_take_enum_values_in_any_case(session: Session) -> None:
    customer = Customer(name="Acme", email=f"{uuid.uuid4().hex}@acme.example", plan="enterprise")
    session.add(customer)
    session.flush()
    task = Task(
        title="t", customer_id=customer.id, status="running", assigned_agent_type="Engineer"
    )
    agent = Agent(customer_id=customer.id, name="cost-bot", agent_type="cost", status="healthy")
    session.add_all([task, agent])
    session.flush()
    assert (task.status, task.assigned_agent_type) == (TaskStatus.RUNNING, AgentType.ENGINEER)
    assert customer.plan is CustomerPlan.ENTERPRISE
    assert _stored(session, "tasks", "status", task.id) == "RUNNING"
    assert _stored(session, "customers", "plan", customer.id) == "ENTERPRISE"
    assert _stored(session, "agents", "agent_type", agent.id) == "COST"

    mine = select(Task.id).where(Task.customer_id == customer.id)
    assert session.scalars(mine.where(Task.status == "Running")).all() == [task.id]
    assert session.scalars(mine.where(Task.status.in_(["pending", "running"]))).all() == [task.id]
    session.execute(update(Task).where(Task.id == task.id).values(status="succeeded"))
    assert _stored(session, "tasks", "status", task.id) == "COMPLETED"

    with pytest.raises(ValidationError, match=r"Task.status must be one of PENDING, .*'paused'"):
        task.status = "paused"
    with pytest.raises(ValidationError, match=r"Agent\.agent_type"):
        Agent(customer_id=customer.id, name="x", agent_type="janitor")
    session.expire_all()
    assert session.get(Task, task.id).status is TaskStatus.COMPLETED  # type: ignore[union-attr]


def test_seed002_python_api_takes_enum_values_in_any_case(sync_store: SyncStore) -> None:
    store = sync_store
    task = store.tasks.create(title="any case", assigned_agent_type="qa")
    assert [t.id for t in store.tasks.list(status="pending").items] == [task.id]
    assert [t.id for t in store.tasks.list(status=["Pending", "RUNNING"]).items] == [task.id]
    run = store.runs.start(task.id, agent_type="Engineer")
    agent_run = store.agent_runs.start(run.id, agent_name="Engineer")
    assert store.agent_runs.finish(agent_run.id, status="failed").status.value == "FAILED"
    event = store.events.append(
        {"event_type": "log", "severity": "Warning", "task_id": task.id, "content": "x"}
    )
    assert (event.event_type.value, event.severity.value) == ("LOG", "WARNING")
    listed = store.events.list(task_id=task.id, event_types=["log"], severities=["warning"])
    assert [e.id for e in listed.items] == [event.id]
    point = store.metrics.record(
        {"name": "n", "value": 1, "metric_type": "counter", "task_id": task.id}
    )
    assert point.metric_type.value == "COUNTER"
    artifact = store.artifacts.put(task.id, "r.md", b"# r", artifact_type="report")
    assert artifact.artifact_type.value == "REPORT"
    assert store.runs.finish(run.id, status="completed").status.value == "COMPLETED"
    agent = store.agents.register(name="bot", agent_type="performance")
    assert [a.id for a in store.agents.list(status="starting", agent_type="Performance")] == [
        agent.id
    ]
    rec = store.recommendations.create(
        recommendation_type="rightsizing", title="r", confidence_score=0.5, priority="high"
    )
    assert [r.id for r in store.recommendations.list(status="pending", priority="HIGH")] == [rec.id]
    project = store.projects.create(name="p")
    pr = store.pull_requests.create(
        project_id=project.id,
        repository_url="https://git.example/p.git",
        branch_name="b",
        title="t",
    )
    assert store.pull_requests.transition(pr.id, "open").status.value == "OPEN"
    assert store.pull_requests.record_check(pr.id, name="ci", status="passed").status.value == (
        "PASSED"
    )
    assert [p.id for p in store.pull_requests.list(status="Open")] == [pr.id]
    assert store.customers.update(plan="startup").plan.value == "STARTUP"
    assert store.customers.set_status("suspended").status.value == "SUSPENDED"
    assert store.customers.set_status("Active").status.value == "ACTIVE"
    with store.session() as s:
        assert _stored(s, "tasks", "assigned_agent_type", task.id) == "QA"
        assert _stored(s, "recommendations", "priority", rec.id) == "HIGH"
    with pytest.raises(ValidationError, match="got 'paused'"):
        store.tasks.list(status="paused")
    with pytest.raises(ValidationError):
        store.agents.register(name="other", agent_type="janitor")
    # Any letter case, but ASCII letters only: with a dotless i (U+0131), "pend\u0131ng"
    # upper-cases to PENDING.
    with pytest.raises(ValidationError):
        store.tasks.list(status="pend\u0131ng")
    with pytest.raises(ValidationError):
        store.tasks.create(title="look-alike", assigned_agent_type="q\u0430")  # a Cyrillic a
    assert [a.name for a in store.agents.list()] == ["bot"]
    assert [t.title for t in store.tasks.list().items] == ["any case"]


def test_seed002_cli_options_take_values_in_any_case(cli_case: CliCase) -> None:
    url, cli, settings = cli_case.url, cli_case.run, cli_case.settings
    with open_store_sync(url, settings=settings) as store:
        held = store.customers.create(name="Held", email="held@x.example")
    with open_store_sync(url, settings=settings, customer_id=held.id) as store:
        store.customers.suspend()
    code, out, err = cli("customer", "list", "--status", "suspended", "-d", url)
    assert code == 0, err
    assert "held@x.example" in out
    assert "default@flightlog.local" not in out
    code, out, err = cli("api-key", "create", "--name", "ci", "--scope", "READ", "-d", url)
    assert code == 0, err
    code, out, err = cli("api-key", "list", "-d", url)
    assert code == 0, err
    assert "read" in out
    assert "READ" not in out

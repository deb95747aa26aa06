"""``flightlog demo``: a realistic multi-agent project, written through the real services.

A MetaGPT-style team (team leader, product manager, architect, engineer, QA)
works a small product: tasks with dependencies, runs in every finishing
state plus one waiting for plan approval, agent runs with tokens and cost,
event logs, metrics, versioned artifacts, recommendations with approvals and
optimizations, modifications, pull requests with validation checks, a
template and project contexts over several iterations, for two customers.
Everything goes through the same services an application uses, so the demo
also shows the rules (lifecycles, audit events) at work. It is written in
one transaction and marked by its customer's email: running it again finds
the marker and writes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from flightlog.enums import (
    AgentRunStatus,
    AgentType,
    ArtifactType,
    CustomerPlan,
    EventType,
    RunStatus,
)
from flightlog.models import Customer
from flightlog.ops.demo_governance import write_governance
from flightlog.services import (
    agent_runs,
    agents,
    artifacts,
    customers,
    events,
    metrics,
    projects,
    runs,
    tasks,
)
from flightlog.services.artifacts import BlobPolicy

DEMO_EMAIL = "demo@acme-robotics.example"
TEAM = [
    ("Mike", "TeamLeader", AgentType.TEAM_LEADER, ["planning", "delegation"]),
    ("Alice", "ProductManager", AgentType.PRODUCT_MANAGER, ["prd", "market-research"]),
    ("Bob", "Architect", AgentType.ARCHITECT, ["system-design", "api-design"]),
    ("Alex", "Engineer", AgentType.ENGINEER, ["python", "typescript", "code-review"]),
    ("Edward", "QA", AgentType.QA, ["testing", "fuzzing"]),
]


@dataclass(frozen=True)
class DemoResult:
    """Whether the demo was written now, and for which customer."""

    created: bool
    customer_id: uuid.UUID


def _team(session: Session, customer_id: uuid.UUID) -> dict[str, uuid.UUID]:
    ids = {}
    for name, role, kind, skills in TEAM:
        agent = agents.register(
            session, customer_id, name, kind, role=role, capabilities=skills, version="0.9"
        )
        agents.heartbeat(session, customer_id, agent.id)
        ids[role] = agent.id
    return ids


def _work(
    session: Session,
    customer_id: uuid.UUID,
    task_id: uuid.UUID,
    team: dict[str, uuid.UUID],
    outcome: RunStatus,
    *,
    roles: list[str],
    tokens: int,
) -> uuid.UUID:
    """One run of a task in which each role takes a turn, ending in ``outcome``."""
    run = runs.start_run(
        session,
        customer_id,
        task_id,
        agent_id=team["TeamLeader"],
        agent_type=AgentType.TEAM_LEADER,
        git_branch="feature/demo",
    )
    lead = agent_runs.start_agent_run(
        session,
        customer_id,
        run.id,
        agent_name="TeamLeader",
        agent_id=team["TeamLeader"],
    )
    for offset, role in enumerate(roles):
        step = agent_runs.start_agent_run(
            session,
            customer_id,
            run.id,
            agent_name=role,
            agent_id=team[role],
            parent_id=lead.id,
        )
        events.append(
            session,
            {
                "event_type": EventType.MESSAGE,
                "customer_id": customer_id,
                "task_id": task_id,
                "run_id": run.id,
                "agent_run_id": step.id,
                "agent_id": team[role],
                "agent_role": role,
                "content": f"{role} is working on it",
                "data": {"round": offset + 1, "files": [f"src/{role.lower()}.py"]},
            },
        )
        failed = outcome is RunStatus.FAILED and role == roles[-1]
        agent_runs.finish_agent_run(
            session,
            customer_id,
            step.id,
            status=AgentRunStatus.FAILED if failed else AgentRunStatus.COMPLETED,
            output_summary=f"{role} finished" if not failed else None,
            error_message="tests failed" if failed else None,
            tokens_in=tokens * (offset + 1),
            tokens_out=tokens // 2 * (offset + 1),
            cost_usd=Decimal(tokens * (offset + 1)) * Decimal("0.000003"),
        )
        metrics.record(
            session,
            {
                "name": "latency_ms",
                "value": 120.0 + 35 * offset,
                "unit": "ms",
                "task_id": task_id,
                "run_id": run.id,
                "labels": {"role": role},
            },
        )
    agent_runs.finish_agent_run(
        session,
        customer_id,
        lead.id,
        output_summary="Team round complete",
        tokens_in=tokens // 4,
        tokens_out=tokens // 8,
        cost_usd="0.0005",
    )
    runs.finish_run(
        session,
        customer_id,
        run.id,
        status=outcome,
        results={"summary": "delivered"} if outcome is RunStatus.COMPLETED else None,
        error_message=None if outcome is RunStatus.COMPLETED else f"run ended {outcome.value}",
        memory_usage_mb=512,
        cpu_time_ms=4200,
    )
    return run.id


def _execution(
    session: Session,
    customer_id: uuid.UUID,
    team: dict[str, uuid.UUID],
    project_id: uuid.UUID,
    policy: BlobPolicy,
) -> uuid.UUID:
    prd = tasks.create_task(
        session,
        customer_id,
        project_id=project_id,
        title="Write the PRD",
        input_prompt="Build a todo app with sharing and reminders",
        priority=5,
        tags=["product"],
        assigned_agent_id=team["ProductManager"],
    )
    design = tasks.create_task(
        session,
        customer_id,
        project_id=project_id,
        title="Design the API",
        description="REST API and data model",
        priority=4,
        tags=["backend"],
        depends_on=[prd.id],
        assigned_agent_id=team["Architect"],
    )
    build = tasks.create_task(
        session,
        customer_id,
        project_id=project_id,
        title="Implement the API",
        priority=3,
        tags=["backend"],
        depends_on=[design.id],
        assigned_agent_id=team["Engineer"],
    )
    verify = tasks.create_task(
        session,
        customer_id,
        project_id=project_id,
        title="Test the API",
        priority=3,
        tags=["qa"],
        depends_on=[build.id],
        assigned_agent_id=team["QA"],
    )
    research = tasks.create_task(
        session,
        customer_id,
        title="Market analysis",
        tags=["research"],
        config={"model": "gpt-4", "temperature": 0.7},
        max_rounds=5,
        memory_size=50,
    )
    tasks.create_task(
        session,
        customer_id,
        title="Competitor pricing",
        parent_task_id=research.id,
    )
    _work(
        session, customer_id, prd.id, team, RunStatus.FAILED, roles=["ProductManager"], tokens=900
    )
    prd_run = _work(
        session,
        customer_id,
        prd.id,
        team,
        RunStatus.COMPLETED,
        roles=["ProductManager", "Architect"],
        tokens=1200,
    )
    _work(
        session, customer_id, design.id, team, RunStatus.COMPLETED, roles=["Architect"], tokens=1500
    )
    _work(session, customer_id, build.id, team, RunStatus.TIMEOUT, roles=["Engineer"], tokens=3000)
    _work(
        session,
        customer_id,
        build.id,
        team,
        RunStatus.COMPLETED,
        roles=["Engineer", "QA"],
        tokens=2600,
    )
    _work(
        session,
        customer_id,
        research.id,
        team,
        RunStatus.CANCELLED,
        roles=["ProductManager"],
        tokens=400,
    )
    runs.start_run(
        session,
        customer_id,
        verify.id,
        agent_id=team["QA"],
        plan={"steps": ["unit tests", "load test 500 rps", "security scan"]},
        await_plan_approval=True,
    )
    runs.start_run(session, customer_id, research.id)  # still running
    for version, text in enumerate(["# PRD\nTodo app.", "# PRD\nTodo app with sharing."], 1):
        artifacts.put(
            session,
            customer_id,
            policy,
            prd.id,
            "prd.md",
            text.encode(),
            content_type="text/markdown",
            artifact_type=ArtifactType.DOCUMENT,
            run_id=prd_run,
            metadata={"version_note": f"draft {version}"},
        )
    artifacts.put(
        session,
        customer_id,
        policy,
        build.id,
        "build.tar",
        bytes(range(256)) * 512,
        content_type="application/x-tar",
        artifact_type=ArtifactType.CODE,
    )
    artifacts.put(
        session,
        customer_id,
        policy,
        design.id,
        "api.yaml",
        b"openapi: 3.1.0\n",
        content_type="application/yaml",
        artifact_type=ArtifactType.CONFIG,
    )
    return build.id


def write_demo(session: Session, *, policy: BlobPolicy) -> DemoResult:
    """Write the demo in the caller's transaction, unless it is already there."""
    existing = session.scalar(select(Customer.id).where(Customer.email == DEMO_EMAIL))
    if existing is not None:
        return DemoResult(created=False, customer_id=existing)
    acme = customers.create_customer(
        session,
        name="Acme Robotics",
        email=DEMO_EMAIL,
        plan=CustomerPlan.ENTERPRISE,
        metadata={"industry": "robotics", "since": datetime(2024, 3, 1, tzinfo=UTC).isoformat()},
    )
    team = _team(session, acme.id)
    product = projects.create_project(
        session,
        acme.id,
        name="todo-app",
        description="The demo product",
        repository_url="https://git.example/acme/todo-app.git",
        repository_name="todo-app",
        owner="alice",
    )
    build_task = _execution(session, acme.id, team, product.id, policy)
    write_governance(session, acme.id, build_task)
    startup = customers.create_customer(
        session,
        name="StartupCo",
        email="founder@startup.example",
        plan=CustomerPlan.STARTUP,
    )
    startup_team = _team(session, startup.id)
    landing = tasks.create_task(session, startup.id, title="Landing page", tags=["frontend"])
    _work(
        session,
        startup.id,
        landing.id,
        startup_team,
        RunStatus.COMPLETED,
        roles=["Engineer"],
        tokens=700,
    )
    return DemoResult(created=True, customer_id=acme.id)

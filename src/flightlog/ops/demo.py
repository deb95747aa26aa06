"""``flightlog demo``: a realistic multi-agent project, written through the real services.

A MetaGPT-style team (team leader, product manager, architect, engineer, QA,
and a reviewer) works a small product over the week before the demo is written:
tasks with dependencies, runs in every finishing state, one waiting for plan
approval and one in progress, agent runs with tokens and cost, event logs,
metrics, versioned artifacts, recommendations with approvals and optimizations,
modifications, pull requests with validation checks, a template and project
contexts over several iterations, for two customers. Everything goes through
the same services an application uses, so the demo also shows the rules
(lifecycles, audit events) at work; times are given as a tracer replaying what
it saw would give them (:mod:`flightlog.ops.demo_runs`). It is written in one
transaction and marked by its customer's email: running it again finds the
marker and writes nothing.

Agents' health is derived from how old their last heartbeat is. The demo's
reviewer, Nina, is the one deliberately unhealthy agent: her heartbeats stop
when the demo is written, in the middle of a step, which is how a crashed agent
looks (DEGRADED after a minute, FAILED after five). The rest of the team stays
healthy while ``flightlog demo --serve`` runs, which heartbeats them as a live
team would (:mod:`flightlog.ops.demo_live`); without it, nothing keeps them alive.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from flightlog.enums import AgentRunStatus, AgentType, ArtifactType, CustomerPlan, RunStatus
from flightlog.models import Customer, Task
from flightlog.ops.demo_governance import write_governance
from flightlog.ops.demo_runs import Step, backdate_task, work
from flightlog.services import agents, artifacts, customers, projects, runs, tasks
from flightlog.services._common import utc_now
from flightlog.services.artifacts import BlobPolicy

DEMO_EMAIL = "demo@acme-robotics.example"
STARTUP_EMAIL = "founder@startup.example"
TEAM = [
    ("Mike", "TeamLeader", AgentType.TEAM_LEADER, ["planning", "delegation"]),
    ("Alice", "ProductManager", AgentType.PRODUCT_MANAGER, ["prd", "market-research"]),
    ("Bob", "Architect", AgentType.ARCHITECT, ["system-design", "api-design"]),
    ("Alex", "Engineer", AgentType.ENGINEER, ["python", "typescript", "code-review"]),
    ("Edward", "QA", AgentType.QA, ["testing", "fuzzing"]),
]
#: Acme's reviewer, whose heartbeats stop mid-step: the demo's deliberately unhealthy agent.
LAPSED_AGENT = ("Nina", "Reviewer", AgentType.REVIEWER, ["code-review", "security"])


@dataclass(frozen=True)
class DemoResult:
    """Whether the demo was written now, and for which customer."""

    created: bool
    customer_id: uuid.UUID


def _team(
    session: Session, customer_id: uuid.UUID, members: list[tuple[str, str, AgentType, list[str]]]
) -> dict[str, uuid.UUID]:
    ids = {}
    for name, role, kind, skills in members:
        agent = agents.register(
            session, customer_id, name, kind, role=role, capabilities=skills, version="0.9"
        )
        agents.heartbeat(session, customer_id, agent.id)
        ids[role] = agent.id
    return ids


def _task(session: Session, customer_id: uuid.UUID, created: datetime, **fields: Any) -> Task:
    task = tasks.create_task(session, customer_id, **fields)
    backdate_task(session, task, created)
    return task


def _nightly(
    session: Session,
    customer_id: uuid.UUID,
    team: dict[str, uuid.UUID],
    now: datetime,
    rng: random.Random,
) -> None:
    """A regression suite run every night for a week: one night's run failed."""
    suite = _task(
        session,
        customer_id,
        now - timedelta(days=7, hours=1),
        title="Nightly regression suite",
        tags=["qa", "nightly"],
        assigned_agent_id=team["QA"],
    )
    for night in range(6, 0, -1):
        failed = night == 3
        qa = Step(
            "QA",
            rng.uniform(180, 420),
            AgentRunStatus.FAILED if failed else AgentRunStatus.COMPLETED,
            "2 tests failed: test_reminder_timezone, test_share_revoked" if failed else None,
        )
        work(
            session,
            customer_id,
            suite.id,
            team,
            RunStatus.FAILED if failed else RunStatus.COMPLETED,
            steps=[qa],
            tokens=rng.randint(1500, 2500),
            start=now - timedelta(days=night, hours=rng.uniform(6, 7)),
            rng=rng,
        )


def _execution(
    session: Session,
    customer_id: uuid.UUID,
    team: dict[str, uuid.UUID],
    project_id: uuid.UUID,
    policy: BlobPolicy,
    now: datetime,
) -> uuid.UUID:
    """A week of the team's work on the todo app, ending in the minutes before ``now``."""
    rng = random.Random(14)
    week_ago = now - timedelta(days=6, hours=2)
    prd = _task(
        session,
        customer_id,
        week_ago,
        project_id=project_id,
        title="Write the PRD",
        input_prompt="Build a todo app with sharing and reminders",
        priority=5,
        tags=["product"],
        assigned_agent_id=team["ProductManager"],
    )
    design = _task(
        session,
        customer_id,
        week_ago,
        project_id=project_id,
        title="Design the API",
        description="REST API and data model",
        priority=4,
        tags=["backend"],
        depends_on=[prd.id],
        assigned_agent_id=team["Architect"],
    )
    build = _task(
        session,
        customer_id,
        week_ago,
        project_id=project_id,
        title="Implement the API",
        priority=3,
        tags=["backend"],
        depends_on=[design.id],
        assigned_agent_id=team["Engineer"],
    )
    verify = _task(
        session,
        customer_id,
        week_ago,
        project_id=project_id,
        title="Test the API",
        priority=3,
        tags=["qa"],
        depends_on=[build.id],
        assigned_agent_id=team["QA"],
    )
    research = _task(
        session,
        customer_id,
        now - timedelta(days=1, hours=3),
        title="Market analysis",
        tags=["research"],
        config={"model": "gpt-4", "temperature": 0.7},
        max_rounds=5,
        memory_size=50,
    )
    _task(
        session,
        customer_id,
        now - timedelta(days=1, hours=3),
        title="Competitor pricing",
        parent_task_id=research.id,
    )
    failed_prd = Step(
        "ProductManager",
        252,
        AgentRunStatus.FAILED,
        "the draft left out the acceptance criteria the lead asked for",
    )
    day = timedelta(days=1)
    _run = partial(work, session, customer_id, rng=rng)
    _run(prd.id, team, RunStatus.FAILED, steps=[failed_prd], tokens=900, start=now - 6 * day)
    prd_run = _run(
        prd.id,
        team,
        RunStatus.COMPLETED,
        steps=[Step("ProductManager", 400), Step("Architect", 185)],
        tokens=1200,
        start=now - 6 * day + timedelta(hours=3),
    )
    _run(
        design.id,
        team,
        RunStatus.COMPLETED,
        steps=[Step("Architect", 570)],
        tokens=1500,
        start=now - 4 * day - timedelta(hours=3),
    )
    timed_out = Step(
        "Engineer", 2690, AgentRunStatus.CANCELLED, "stopped when the run hit its time limit"
    )
    _run(
        build.id,
        team,
        RunStatus.TIMEOUT,
        steps=[timed_out],
        tokens=3000,
        start=now - 3 * day - timedelta(hours=5),
    )
    _run(
        build.id,
        team,
        RunStatus.COMPLETED,
        steps=[Step("Engineer", 860), Step("QA", 335)],
        tokens=2600,
        start=now - 2 * day - timedelta(hours=4),
    )
    _run(
        research.id,
        team,
        RunStatus.CANCELLED,
        steps=[Step("ProductManager", 120)],
        tokens=400,
        start=now - day - timedelta(hours=2),
    )
    _nightly(session, customer_id, team, now, rng)
    runs.start_run(
        session,
        customer_id,
        verify.id,
        agent_id=team["QA"],
        plan={"steps": ["unit tests", "load test 500 rps", "security scan"]},
        await_plan_approval=True,
        started_at=now - timedelta(minutes=25),
    )
    # In progress: the product manager is done, and the reviewer's step is still open;
    # the reviewer's heartbeats stop here (see LAPSED_AGENT).
    _run(
        research.id,
        team,
        RunStatus.RUNNING,
        steps=[Step("ProductManager", 95), Step(LAPSED_AGENT[1], 600)],
        tokens=800,
        start=now - timedelta(minutes=4),
    )
    _artifacts(session, customer_id, policy, prd.id, prd_run, build.id, design.id)
    return build.id


def _artifacts(
    session: Session,
    customer_id: uuid.UUID,
    policy: BlobPolicy,
    prd_id: uuid.UUID,
    prd_run: uuid.UUID,
    build_id: uuid.UUID,
    design_id: uuid.UUID,
) -> None:
    for version, text in enumerate(["# PRD\nTodo app.", "# PRD\nTodo app with sharing."], 1):
        artifacts.put(
            session,
            customer_id,
            policy,
            prd_id,
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
        build_id,
        "build.tar",
        bytes(range(256)) * 512,
        content_type="application/x-tar",
        artifact_type=ArtifactType.CODE,
    )
    artifacts.put(
        session,
        customer_id,
        policy,
        design_id,
        "api.yaml",
        b"openapi: 3.1.0\n",
        content_type="application/yaml",
        artifact_type=ArtifactType.CONFIG,
    )


def write_demo(session: Session, *, policy: BlobPolicy) -> DemoResult:
    """Write the demo in the caller's transaction, unless it is already there."""
    existing = session.scalar(select(Customer.id).where(Customer.email == DEMO_EMAIL))
    if existing is not None:
        return DemoResult(created=False, customer_id=existing)
    now = utc_now()
    acme = customers.create_customer(
        session,
        name="Acme Robotics",
        email=DEMO_EMAIL,
        plan=CustomerPlan.ENTERPRISE,
        metadata={"industry": "robotics", "since": datetime(2024, 3, 1, tzinfo=UTC).isoformat()},
    )
    team = _team(session, acme.id, [*TEAM, LAPSED_AGENT])
    product = projects.create_project(
        session,
        acme.id,
        name="todo-app",
        description="The demo product",
        repository_url="https://git.example/acme/todo-app.git",
        repository_name="todo-app",
        owner="alice",
    )
    build_task = _execution(session, acme.id, team, product.id, policy, now)
    write_governance(session, acme.id, build_task)
    startup = customers.create_customer(
        session, name="StartupCo", email=STARTUP_EMAIL, plan=CustomerPlan.STARTUP
    )
    startup_team = _team(session, startup.id, TEAM)
    landing = _task(
        session,
        startup.id,
        now - timedelta(days=2, hours=6),
        title="Landing page",
        tags=["frontend"],
    )
    work(
        session,
        startup.id,
        landing.id,
        startup_team,
        RunStatus.COMPLETED,
        steps=[Step("Engineer", 430)],
        tokens=700,
        start=now - timedelta(days=2, hours=5),
        rng=random.Random(2),
    )
    return DemoResult(created=True, customer_id=acme.id)

"""The data a browser test finds on its server: a small project written through the
Python API (the same services a user's agents call), with times in the past so
durations read as minutes, and the two kinds of key a person signs in with.

Browser tests share one server per dialect per module; a test that changes something
(approves a plan, merges a pull request) should make its own object with
``dashboard.store`` rather than change one of these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flightlog.enums import AgentRunStatus, EventType, RunStatus
from flightlog.store import SyncStore


@dataclass(frozen=True)
class Seeded:
    """Ids (as they appear in URLs) of what :func:`seed` wrote, and the keys to sign in with."""

    write_key: str
    read_key: str
    project: str
    agent: str
    done_task: str
    done_run: str
    failed_task: str
    failed_run: str
    waiting_task: str
    waiting_run: str
    recommendation: str
    pull_request: str


def seed(store: SyncStore) -> Seeded:
    """A project with a finished, a failed and a waiting run, an agent, a recommendation
    and a pull request; every object belongs to the store's customer."""
    now = datetime.now(UTC)
    project = store.projects.create(
        name="Checkout service",
        description="Payments and carts",
        repository_url="https://git.example/acme/checkout",
    )
    agent = store.agents.register("engineer-1", "ENGINEER", capabilities=["python", "sql"])
    store.agents.heartbeat(agent.id)

    done = store.tasks.create(
        title="Build the payments API", tags=["api", "payments"], project_id=project.id
    )
    done_run = store.runs.start(done.id, started_at=now - timedelta(minutes=42))
    lead = store.agent_runs.start(
        done_run.id, agent_name="TeamLeader", started_at=now - timedelta(minutes=41)
    )
    engineer = store.agent_runs.start(
        done_run.id,
        agent_name="Engineer",
        parent_id=lead.id,
        agent_id=agent.id,
        started_at=now - timedelta(minutes=38),
    )
    store.events.append(
        {
            "event_type": EventType.MESSAGE,
            "content": "Handlers written; running the tests",
            "task_id": done.id,
            "run_id": done_run.id,
            "agent_run_id": engineer.id,
            "agent_role": "Engineer",
        }
    )
    store.agent_runs.finish(
        engineer.id,
        output_summary="wrote the handlers and their tests",
        tokens_in=12_400,
        tokens_out=3_100,
        cost_usd="0.42",
        finished_at=now - timedelta(minutes=21),
    )
    store.agent_runs.finish(
        lead.id,
        output_summary="split the work and reviewed it",
        tokens_in=2_000,
        tokens_out=600,
        cost_usd="0.05",
        finished_at=now - timedelta(minutes=19),
    )
    store.metrics.record(
        {"name": "tests.passed", "value": 48, "task_id": done.id, "run_id": done_run.id}
    )
    store.artifacts.put(
        done.id,
        "payments.py",
        b"def charge(amount: int) -> None:\n    ...\n",
        content_type="text/x-python",
        run_id=done_run.id,
    )
    store.runs.finish(done_run.id, completed_at=now - timedelta(minutes=18))

    failed = store.tasks.create(
        title="Migrate the invoices table", tags=["db"], project_id=project.id
    )
    failed_run = store.runs.start(failed.id, started_at=now - timedelta(hours=3))
    step = store.agent_runs.start(
        failed_run.id, agent_name="Engineer", started_at=now - timedelta(hours=3)
    )
    store.agent_runs.finish(
        step.id,
        status=AgentRunStatus.FAILED,
        error_message="lock timeout on invoices",
        finished_at=now - timedelta(hours=2, minutes=50),
    )
    store.runs.finish(
        failed_run.id,
        status=RunStatus.FAILED,
        error_message="migration failed: lock timeout on invoices",
        completed_at=now - timedelta(hours=2, minutes=49),
    )

    waiting = store.tasks.create(title="Refactor the checkout flow", project_id=project.id)
    waiting_run = store.runs.start(
        waiting.id,
        plan={"steps": ["split CheckoutView", "move pricing into a service", "add tests"]},
        await_plan_approval=True,
    )
    recommendation = store.recommendations.create(
        recommendation_type="cost",
        title="Use a smaller model for the QA agent",
        confidence_score=0.8,
        estimated_savings="120.00",
        project_id=project.id,
    )
    pull_request = store.pull_requests.create(
        project_id=project.id,
        branch_name="feature/payments-api",
        title="Payments API",
        pr_number=17,
        task_id=done.id,
        run_id=done_run.id,
    )
    return Seeded(
        write_key=store.api_keys.create("browser-write", scopes=["read", "write"]).key,
        read_key=store.api_keys.create("browser-read", scopes=["read"]).key,
        project=str(project.id),
        agent=str(agent.id),
        done_task=str(done.id),
        done_run=str(done_run.id),
        failed_task=str(failed.id),
        failed_run=str(failed_run.id),
        waiting_task=str(waiting.id),
        waiting_run=str(waiting_run.id),
        recommendation=str(recommendation.id),
        pull_request=str(pull_request.id),
    )

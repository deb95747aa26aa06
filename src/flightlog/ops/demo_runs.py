"""The demo's runs, with the times a real team's would have.

Every run, agent step, message and metric point is written through the services
with caller-measured times (``started_at``, ``completed_at``, ``finished_at``,
``created_at``, ``recorded_at``: the parameters a tracer replaying what it saw
uses), so durations read in seconds to minutes and the runs spread over the last
week, ending in the few minutes before the demo was written.

Tasks are the one thing the services always stamp with the database clock; the
demo moves a task's ``created_at`` (and its creation event's) back to just before
its first run, in the demo's own transaction, so no run starts before its task.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import update
from sqlalchemy.orm import Session

from flightlog.enums import AgentRunStatus, AgentType, EventType, RunStatus
from flightlog.models import Event, Task
from flightlog.services import agent_runs, events, metrics, runs

#: Per role: (model, dollars per 1k input tokens, per 1k output tokens); prices as listed.
MODELS = {
    "TeamLeader": ("gpt-4o", Decimal("0.0025"), Decimal("0.01")),
    "ProductManager": ("claude-3-5-sonnet", Decimal("0.003"), Decimal("0.015")),
    "Architect": ("claude-3-5-sonnet", Decimal("0.003"), Decimal("0.015")),
    "Engineer": ("gpt-4o", Decimal("0.0025"), Decimal("0.01")),
    "QA": ("gpt-4o-mini", Decimal("0.00015"), Decimal("0.0006")),
    "Reviewer": ("gpt-4o-mini", Decimal("0.00015"), Decimal("0.0006")),
}
SAYS = {
    "ProductManager": "Drafted the requirements: sharing, reminders, offline mode",
    "Architect": "Proposed a REST API over PostgreSQL with a job queue for reminders",
    "Engineer": "Implemented the handlers and migrations; 41 files changed",
    "QA": "Ran 212 tests across the API and the reminder worker",
    "Reviewer": "Reviewing the diff for security and style",
}


@dataclass(frozen=True)
class Step:
    """One agent's turn in a run: who, for how long, and how it ended."""

    role: str
    seconds: float
    status: AgentRunStatus = AgentRunStatus.COMPLETED
    error: str | None = None


def backdate_task(session: Session, task: Task, at: datetime) -> None:
    """Move a just-created task (and the event that recorded its creation) back to ``at``."""
    task.created_at = at
    session.execute(
        update(Event).where(Event.task_id == task.id, Event.run_id.is_(None)).values(created_at=at)
    )
    session.flush()


def _usage(role: str, tokens: int, rng: random.Random) -> tuple[int, int, Decimal]:
    _, per_in, per_out = MODELS.get(role, MODELS["Engineer"])
    tokens_in = int(tokens * rng.uniform(0.8, 1.3))
    tokens_out = int(tokens_in * rng.uniform(0.25, 0.5))
    cost = (Decimal(tokens_in) * per_in + Decimal(tokens_out) * per_out) / 1000
    return tokens_in, tokens_out, cost.quantize(Decimal("0.000001"))


def _step(
    session: Session,
    customer_id: uuid.UUID,
    task_id: uuid.UUID,
    run_id: uuid.UUID,
    team: dict[str, uuid.UUID],
    lead_id: uuid.UUID,
    step: Step,
    start: datetime,
    *,
    tokens: int,
    rng: random.Random,
    finish: bool = True,
) -> datetime:
    """One agent step with its message and latency metric; returns when it ended."""
    model = MODELS.get(step.role, MODELS["Engineer"])[0]
    row = agent_runs.start_agent_run(
        session,
        customer_id,
        run_id,
        agent_name=step.role,
        agent_id=team.get(step.role),
        parent_id=lead_id,
        details={"model": model},
        started_at=start,
    )
    said = start + timedelta(seconds=min(step.seconds * 0.4, 45.0))
    events.append(
        session,
        {
            "event_type": EventType.MESSAGE,
            "customer_id": customer_id,
            "task_id": task_id,
            "run_id": run_id,
            "agent_run_id": row.id,
            "agent_id": team.get(step.role),
            "agent_role": step.role,
            "content": SAYS.get(step.role, f"{step.role} is working on it"),
            "data": {"model": model, "files": [f"src/{step.role.lower()}.py"]},
            "created_at": said,
        },
    )
    end = start + timedelta(seconds=step.seconds)
    if not finish:
        return end
    tokens_in, tokens_out, cost = _usage(step.role, tokens, rng)
    agent_runs.finish_agent_run(
        session,
        customer_id,
        row.id,
        status=step.status,
        output_summary=f"{step.role} finished" if step.error is None else None,
        error_message=step.error,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost_usd=cost,
        finished_at=end,
    )
    metrics.record(
        session,
        {
            "name": "latency_ms",
            "value": round(rng.uniform(380, 2400), 1),
            "unit": "ms",
            "task_id": task_id,
            "run_id": run_id,
            "labels": {"role": step.role, "model": model},
            "recorded_at": end,
        },
    )
    return end


def work(
    session: Session,
    customer_id: uuid.UUID,
    task_id: uuid.UUID,
    team: dict[str, uuid.UUID],
    outcome: RunStatus,
    *,
    steps: Sequence[Step],
    tokens: int,
    start: datetime,
    rng: random.Random,
) -> uuid.UUID:
    """One run of a task, led by the team leader, in which each step takes its turn.

    ``outcome`` RUNNING leaves the last step and the run going (a run in progress).
    """
    run = runs.start_run(
        session,
        customer_id,
        task_id,
        agent_id=team["TeamLeader"],
        agent_type=AgentType.TEAM_LEADER,
        git_branch="feature/demo",
        started_at=start,
    )
    lead = agent_runs.start_agent_run(
        session,
        customer_id,
        run.id,
        agent_name="TeamLeader",
        agent_id=team["TeamLeader"],
        details={"model": MODELS["TeamLeader"][0]},
        started_at=start + timedelta(seconds=1.5),
    )
    at = start + timedelta(seconds=4)
    for index, step in enumerate(steps):
        last = index == len(steps) - 1
        end = _step(
            session,
            customer_id,
            task_id,
            run.id,
            team,
            lead.id,
            step,
            at,
            tokens=tokens,
            rng=rng,
            finish=not (last and outcome is RunStatus.RUNNING),
        )
        at = end + timedelta(seconds=rng.uniform(2, 9))
    if outcome is RunStatus.RUNNING:
        return run.id
    tokens_in, tokens_out, cost = _usage("TeamLeader", tokens // 4, rng)
    agent_runs.finish_agent_run(
        session,
        customer_id,
        lead.id,
        status=AgentRunStatus.COMPLETED,
        output_summary="Team round complete",
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost_usd=cost,
        finished_at=at,
    )
    ended = at + timedelta(seconds=1)
    errors = {
        RunStatus.FAILED: next((s.error for s in steps if s.error), "a step failed"),
        RunStatus.TIMEOUT: "no result within the run's 45-minute limit",
        RunStatus.CANCELLED: "cancelled by alice: priorities changed",
    }
    runs.finish_run(
        session,
        customer_id,
        run.id,
        status=outcome,
        results={"summary": "delivered"} if outcome is RunStatus.COMPLETED else None,
        error_message=errors.get(outcome),
        memory_usage_mb=rng.randint(380, 1400),
        cpu_time_ms=int((ended - start).total_seconds() * rng.uniform(150, 400)),
        completed_at=ended,
    )
    return run.id

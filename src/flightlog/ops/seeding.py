"""Deterministic synthetic data for load tests and demos: ``flightlog seed``.

The same ``--seed`` and size give the same rows, ids and timestamps on any
database (ids are UUIDv7 built from the generator, times from a fixed epoch),
so two seeded databases export identically. Every aggregate is written:
the project, agents, tasks, runs, agent runs, artifacts (with their blobs,
:mod:`flightlog.ops.seed_artifacts`), events and metric points. Events and
metric points are generated lazily and go through :mod:`flightlog.ingest` (COPY on PostgreSQL,
prepared executemany on SQLite), the same batch path applications use, so the
large size (over a million events) runs in bounded memory and exercises what
it is meant to load-test.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from flightlog import models as m
from flightlog.enums import (
    AgentRunStatus,
    AgentType,
    EventSeverity,
    EventType,
    MetricType,
    RunStatus,
    TaskStatus,
)
from flightlog.ingest import ingest_events, ingest_metrics
from flightlog.ops.seed_artifacts import artifact_rows
from flightlog.services.events import DEFAULT_MAX_PAYLOAD_BYTES

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
ROLES = ["TeamLeader", "ProductManager", "Architect", "Engineer", "QA"]
ROLE_TYPES = {
    "TeamLeader": AgentType.TEAM_LEADER,
    "ProductManager": AgentType.PRODUCT_MANAGER,
    "Architect": AgentType.ARCHITECT,
    "Engineer": AgentType.ENGINEER,
    "QA": AgentType.QA,
}
RUN_OUTCOMES = [RunStatus.COMPLETED] * 7 + [
    RunStatus.FAILED,
    RunStatus.TIMEOUT,
    RunStatus.CANCELLED,
]
CHUNK = 5000


@dataclass(frozen=True)
class SeedSize:
    """How much one size generates."""

    name: str
    tasks: int
    runs_per_task: int
    events_per_run: int
    metrics_per_run: int


SIZES = {
    "small": SeedSize("small", tasks=50, runs_per_task=3, events_per_run=60, metrics_per_run=20),
    "medium": SeedSize("medium", tasks=500, runs_per_task=4, events_per_run=50, metrics_per_run=20),
    "large": SeedSize("large", tasks=5000, runs_per_task=4, events_per_run=52, metrics_per_run=10),
}

Progress = Callable[[str, int, int], None]
#: Per run, in creation order: task id, run id, start time, and its (agent run id, role) steps.
RunPlan = list[tuple[uuid.UUID, uuid.UUID, datetime, list[tuple[uuid.UUID, str]]]]


def seed_email(seed: int, size: str) -> str:
    """The marker customer that says a database already holds this seed."""
    return f"seed-{seed}-{size}@flightlog.local"


class _Generator:
    def __init__(self, seed: int | str) -> None:
        self.rng = random.Random(seed)
        self.clock = EPOCH

    def tick(self, seconds: float) -> datetime:
        self.clock += timedelta(seconds=seconds)
        return self.clock

    def uuid7(self, at: datetime) -> uuid.UUID:
        ms = int(at.timestamp() * 1000)
        rand = self.rng.getrandbits(74)
        value = (
            (ms << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & (2**62 - 1))
        )
        return uuid.UUID(int=value)


def _insert(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        session.execute(insert(model), rows[start : start + CHUNK])


def already_seeded(session: Session, seed: int, size: str) -> bool:
    found = session.scalar(select(m.Customer.id).where(m.Customer.email == seed_email(seed, size)))
    return found is not None


def seed_database(
    session: Session,
    *,
    seed: int,
    size: str | SeedSize,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Generate one size of data in the caller's transaction; returns rows written per table."""
    spec = size if isinstance(size, SeedSize) else SIZES[size]
    gen = _Generator(seed)
    rng = gen.rng
    counts: dict[str, int] = {}

    def report(phase: str, done: int, total: int) -> None:
        if progress is not None:
            progress(phase, done, total)

    customer_id = gen.uuid7(gen.tick(1))
    _insert(
        session,
        m.Customer,
        [
            {
                "id": customer_id,
                "name": f"Seed {seed} ({spec.name})",
                "email": seed_email(seed, spec.name),
                "created_at": gen.clock,
                "updated_at": gen.clock,
            }
        ],
    )
    project_id = gen.uuid7(gen.tick(1))
    _insert(
        session,
        m.Project,
        [
            {
                "id": project_id,
                "customer_id": customer_id,
                "name": f"seeded-{spec.name}",
                "repository_url": "https://git.example/seeded.git",
                "created_at": gen.clock,
                "updated_at": gen.clock,
            }
        ],
    )
    agents = {}
    for role in ROLES:
        agents[role] = gen.uuid7(gen.tick(1))
    _insert(
        session,
        m.Agent,
        [
            {
                "id": agent_id,
                "customer_id": customer_id,
                "name": role,
                "role": role,
                "agent_type": ROLE_TYPES[role],
                "capabilities": [role.lower()],
                "created_at": gen.clock,
                "updated_at": gen.clock,
            }
            for role, agent_id in agents.items()
        ],
    )

    tasks: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    agent_runs: list[dict[str, Any]] = []
    run_plan: RunPlan = []
    for t in range(spec.tasks):
        created = gen.tick(rng.uniform(30, 600))
        task_id = gen.uuid7(created)
        outcomes = [rng.choice(RUN_OUTCOMES) for _ in range(spec.runs_per_task)]
        last = outcomes[-1]
        status = {
            RunStatus.COMPLETED: TaskStatus.COMPLETED,
            RunStatus.FAILED: TaskStatus.FAILED,
            RunStatus.TIMEOUT: TaskStatus.TIMEOUT,
            RunStatus.CANCELLED: TaskStatus.PENDING,
        }[last]
        tasks.append(
            {
                "id": task_id,
                "customer_id": customer_id,
                "project_id": project_id,
                "title": f"Task {t}: {rng.choice(['Build', 'Review', 'Test', 'Analyse'])} "
                f"{rng.choice(['login', 'billing', 'search', 'reports', 'api'])}",
                "input_prompt": f"Seeded prompt {t}",
                "status": status,
                "priority": rng.randint(0, 5),
                "tags": [rng.choice(["frontend", "backend", "infra"])],
                "created_at": created,
                "updated_at": created,
            }
        )
        durations: list[float] = []
        for number, outcome in enumerate(outcomes, start=1):
            started = created + timedelta(minutes=number * 5)
            duration = rng.uniform(5, 900)
            durations.append(duration)
            run_id = gen.uuid7(started)
            finished = started + timedelta(seconds=duration)
            steps: list[tuple[uuid.UUID, str]] = []
            tokens_in = tokens_out = 0
            cost = Decimal(0)
            for position, role in enumerate(ROLES):
                ar_id = gen.uuid7(started + timedelta(seconds=position))
                t_in, t_out = rng.randint(200, 4000), rng.randint(100, 2000)
                c = (Decimal(t_in + t_out) * Decimal("0.000002")).quantize(Decimal("0.000001"))
                tokens_in, tokens_out, cost = tokens_in + t_in, tokens_out + t_out, cost + c
                agent_runs.append(
                    {
                        "id": ar_id,
                        "task_id": task_id,
                        "run_id": run_id,
                        "agent_id": agents[role],
                        "agent_name": role,
                        "status": AgentRunStatus.COMPLETED
                        if outcome is RunStatus.COMPLETED
                        else AgentRunStatus.FAILED,
                        "started_at": started + timedelta(seconds=position),
                        "finished_at": finished,
                        "duration_seconds": duration - position,
                        "tokens_in": t_in,
                        "tokens_out": t_out,
                        "cost_usd": c,
                        "output_summary": f"{role} step done",
                    }
                )
                steps.append((ar_id, role))
            runs.append(
                {
                    "id": run_id,
                    "task_id": task_id,
                    "run_number": number,
                    "status": outcome,
                    "agent_id": agents["TeamLeader"],
                    "started_at": started,
                    "completed_at": finished,
                    "duration_seconds": duration,
                    "results": {"summary": "ok"} if outcome is RunStatus.COMPLETED else None,
                    "error_message": None if outcome is RunStatus.COMPLETED else "seeded failure",
                    "tokens_in": tokens_in,
                    "tokens_out": tokens_out,
                    "cost_usd": cost,
                    "memory_usage_mb": rng.randint(64, 4096),
                    "cpu_time_ms": rng.randint(100, 90000),
                    "created_at": started,
                    "updated_at": finished,
                }
            )
            run_plan.append((task_id, run_id, started, steps))
        # The same definitions as services.task_statistics, computed here so the rows
        # (including updated_at) stay deterministic.
        ok = outcomes.count(RunStatus.COMPLETED)
        bad = outcomes.count(RunStatus.FAILED) + outcomes.count(RunStatus.TIMEOUT)
        tasks[-1].update(
            total_runs=len(outcomes),
            successful_runs=ok,
            failed_runs=bad,
            success_rate=round(100.0 * ok / (ok + bad), 4) if ok + bad else 0.0,
            avg_duration_seconds=sum(durations) / len(durations),
            last_run_at=runs[-1]["started_at"],
        )
        report("tasks", t + 1, spec.tasks)
    for model, rows in ((m.Task, tasks), (m.TaskRun, runs), (m.AgentRun, agent_runs)):
        _insert(session, model, rows)
        counts[model.__tablename__] = len(rows)
    blobs, artifacts = artifact_rows(tasks, runs, run_plan, _Generator(f"{seed}/artifacts"))
    _insert(session, m.ArtifactBlob, blobs)
    _insert(session, m.Artifact, artifacts)
    counts["artifacts"], counts["artifact_blobs"] = len(artifacts), len(blobs)
    report("artifacts", len(artifacts), len(artifacts))

    counts["events"] = ingest_events(
        session,
        customer_id,
        DEFAULT_MAX_PAYLOAD_BYTES,
        _event_rows(run_plan, spec, customer_id, report),
        chunk_size=CHUNK,
    )
    # A generator of its own, so the points do not depend on how the events were drawn.
    counts["metric_points"] = ingest_metrics(
        session,
        customer_id,
        _metric_rows(run_plan, spec, random.Random(f"{seed}/metrics"), report),
        chunk_size=CHUNK,
    )
    return counts


def _event_rows(
    run_plan: RunPlan,
    spec: SeedSize,
    customer_id: uuid.UUID,
    report: Progress,
) -> Iterator[dict[str, Any]]:
    """Each run's event log: every step of the team in turn, four events a second."""
    total = len(run_plan) * spec.events_per_run
    done = 0
    for task_id, run_id, started, steps in run_plan:
        for k in range(spec.events_per_run):
            agent_run_id, role = steps[k % len(steps)]
            yield {
                "customer_id": customer_id,
                "task_id": task_id,
                "run_id": run_id,
                "agent_run_id": agent_run_id,
                "event_type": EventType.MESSAGE if k % 5 else EventType.LOG,
                "severity": EventSeverity.INFO if k % 17 else EventSeverity.WARNING,
                "agent_role": role,
                "content": f"{role}: step {k}",
                "data": {"step": k},
                "created_at": started + timedelta(milliseconds=k * 250),
            }
            done += 1
            if done % CHUNK == 0:
                report("events", done, total)
    report("events", done, total)


def _metric_rows(
    run_plan: RunPlan, spec: SeedSize, rng: random.Random, report: Progress
) -> Iterator[dict[str, Any]]:
    """Each run's resource gauges, one a second from its start."""
    total = len(run_plan) * spec.metrics_per_run
    done = 0
    for task_id, run_id, started, _steps in run_plan:
        for k in range(spec.metrics_per_run):
            yield {
                "task_id": task_id,
                "run_id": run_id,
                "name": rng.choice(["cpu_usage", "memory_mb", "latency_ms"]),
                "metric_type": MetricType.GAUGE,
                "value": round(rng.uniform(0, 100), 3),
                "unit": "%",
                "labels": {"host": f"worker-{k % 4}"},
                "recorded_at": started + timedelta(seconds=k),
            }
            done += 1
            if done % CHUNK == 0:
                report("metric points", done, total)
    report("metric points", done, total)

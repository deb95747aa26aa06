"""Work with known times, costs and durations, for the charts' aggregates and pages.

Two agents over two days, in a project and outside any, four runs that end four
ways with known durations, and metric points with labels; the expected
aggregates are written out beside it (``EXPECTED_*``), so the tests compare
what the services and the pages give with numbers a person can check.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from flightlog.enums import RunStatus
from flightlog.store import Store

DAY = timedelta(days=1)


def day_start(days_ago: int) -> datetime:
    """Midnight UTC ``days_ago`` days before today: where the seeded work begins."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - days_ago * DAY


@dataclass(frozen=True)
class Seeded:
    base: datetime
    project_task: uuid.UUID
    loose_task: uuid.UUID
    first_run: uuid.UUID
    second_run: uuid.UUID


async def _agent(
    store: Store,
    run_id: uuid.UUID,
    name: str,
    at: datetime,
    *,
    tokens_in: int,
    tokens_out: int,
    cost: str,
) -> None:
    step = await store.agent_runs.start(run_id, agent_name=name, started_at=at)
    await store.agent_runs.finish(
        step.id,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost_usd=cost,
        finished_at=at + timedelta(seconds=5),
    )


async def seed(store: Store, base: datetime) -> Seeded:
    """The work of two days from ``base`` (a midnight UTC at least two days ago).

    Day 0: Alice and Bob work on a task of project Atlas; the run completes after 3 h.
    Day 1: Alice works twice on a task in no project; that run fails after 45 s, a
    second run of another task times out after 0.5 s and a third is cancelled after 2 min.
    """
    project = await store.projects.create(name="Atlas")
    in_project = await store.tasks.create(title="Map the coast", project_id=project.id)
    loose = await store.tasks.create(title="Loose ends")
    first = await store.runs.start(in_project.id, started_at=base + timedelta(hours=1))
    await _agent(
        store,
        first.id,
        "Alice",
        base + timedelta(hours=2),
        tokens_in=100,
        tokens_out=50,
        cost="0.10",
    )
    await _agent(
        store, first.id, "Bob", base + timedelta(hours=3), tokens_in=40, tokens_out=20, cost="0.05"
    )
    await store.runs.finish(first.id, completed_at=base + timedelta(hours=4))

    day1 = base + DAY + timedelta(hours=1)
    second = await store.runs.start(loose.id, started_at=day1)
    await _agent(
        store,
        second.id,
        "Alice",
        day1 + timedelta(seconds=10),
        tokens_in=200,
        tokens_out=100,
        cost="0.20",
    )
    await _agent(
        store,
        second.id,
        "Alice",
        day1 + timedelta(seconds=30),
        tokens_in=10,
        tokens_out=5,
        cost="0.01",
    )
    await store.runs.fail(
        second.id, error_message="tests failed", completed_at=day1 + timedelta(seconds=45)
    )
    for title, status, seconds in (
        ("Slow probe", RunStatus.TIMEOUT, 0.5),
        ("Dropped idea", RunStatus.CANCELLED, 120.0),
    ):
        task = await store.tasks.create(title=title)
        run = await store.runs.start(task.id, started_at=day1)
        await store.runs.finish(
            run.id, status=status, completed_at=day1 + timedelta(seconds=seconds)
        )
    return Seeded(base, in_project.id, loose.id, first.id, second.id)


def expected_usage(
    base: datetime, by: str
) -> list[tuple[datetime, str | None, int, int, int, Decimal]]:
    """``(start, group, agent_runs, tokens_in, tokens_out, cost)`` per day and group."""
    if by == "agent":
        return [
            (base, "Alice", 1, 100, 50, Decimal("0.100000")),
            (base, "Bob", 1, 40, 20, Decimal("0.050000")),
            (base + DAY, "Alice", 2, 210, 105, Decimal("0.210000")),
        ]
    return [
        (base, "Atlas", 2, 140, 70, Decimal("0.150000")),
        (base + DAY, None, 2, 210, 105, Decimal("0.210000")),
    ]


#: ``(start offset in days, completed, failed, timed_out, cancelled, success_rate)``.
EXPECTED_OUTCOMES = [(0, 1, 0, 0, 0, 100.0), (1, 0, 1, 1, 1, 0.0)]
#: Runs per duration bin (lower edge in seconds): 0.5 s, 45 s, 120 s and 3 h.
EXPECTED_DURATIONS = {0.0: 1, 30.0: 1, 120.0: 1, 3600.0: 1}


async def seed_metrics(store: Store, seeded: Seeded) -> None:
    """``latency_ms`` on the first run for two label sets, ``queue_depth`` on the loose task."""
    at = seeded.base + timedelta(hours=2)
    points: list[dict[str, object]] = []
    for i, (role, value) in enumerate([("planner", 120.0), ("coder", 300.0), ("planner", 80.0)]):
        points.append(
            {
                "name": "latency_ms",
                "value": value,
                "unit": "ms",
                "labels": {"role": role},
                "task_id": seeded.project_task,
                "run_id": seeded.first_run,
                "recorded_at": at + timedelta(minutes=i),
            }
        )
    points.append(
        {
            "name": "queue_depth",
            "value": 7.0,
            "task_id": seeded.loose_task,
            "recorded_at": seeded.base + DAY + timedelta(hours=3),
        }
    )
    await store.metrics.record_batch(points)

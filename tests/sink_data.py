"""Work spread over ten days with awkward edges, for comparing the sink's aggregates with the
database's: steps at whole hours and a microsecond before them, durations on the
histogram's edges, open steps with usage, cancelled and timed-out runs, metric names
with quotes, backslashes and newlines, and a second customer whose rows must never
count. Deterministic (a seeded random), written through the Store as agents write.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from flightlog.enums import RunStatus
from flightlog.store import Store

AGENTS = ("planner", "coder", "Reviewer 'Q'", "ünï\\agent")
METRICS = ("latency_ms", "tokens/s", "it's \\ odd\nname")
#: Run durations in seconds, the histogram's edges among them (and just under them).
DURATIONS = (0.5, 1.0, 4.999999, 5.0, 30.0, 59.9, 60.0, 600.0, 3600.0, 7200.0)
ENDINGS = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.TIMEOUT, RunStatus.CANCELLED)


@dataclass(frozen=True)
class Filled:
    base: datetime
    tasks: list[uuid.UUID]
    runs: list[uuid.UUID]


def ten_days_ago() -> datetime:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=10)


async def fill(store: Store, *, seed: int = 7, runs: int = 36) -> Filled:
    """The customer's work: ``runs`` runs over ten days, each with one to three steps."""
    rng = random.Random(seed)
    base = ten_days_ago()
    project = await store.projects.create(name=f"Atlas {seed}")
    tasks = [
        (await store.tasks.create(title=f"task {i}", project_id=project.id if i % 2 else None)).id
        for i in range(5)
    ]
    made: list[uuid.UUID] = []
    for r in range(runs):
        hour = base + timedelta(hours=rng.randrange(9 * 24))
        # On the hour, a microsecond before it, or anywhere in it.
        started = hour + rng.choice(
            [timedelta(0), -timedelta(microseconds=1), timedelta(seconds=rng.random() * 3599)]
        )
        run = await store.runs.start(tasks[r % len(tasks)], started_at=started)
        made.append(run.id)
        for step in range(rng.randint(1, 3)):
            at = started + timedelta(seconds=10 * step, microseconds=rng.randrange(10**6))
            agent = await store.agent_runs.start(
                run.id, agent_name=rng.choice(AGENTS), started_at=at
            )
            if r % 7 == 3 and step == 0:  # left running, with usage recorded so far
                await store.agent_runs.record_usage(agent.id, tokens_in=11, cost_usd="0.000011")
                continue
            await store.agent_runs.finish(
                agent.id,
                tokens_in=rng.randrange(5000),
                tokens_out=rng.randrange(3000),
                cost_usd=Decimal(rng.randrange(10**7)) / Decimal(10**6),
                finished_at=at + timedelta(seconds=rng.random() * 30),
            )
        if r % 7 == 3:
            continue  # the run stays RUNNING
        ending = ENDINGS[r % len(ENDINGS)]
        completed = started + timedelta(seconds=rng.choice(DURATIONS))
        if ending is RunStatus.FAILED:
            await store.runs.fail(run.id, error_message="no", completed_at=completed)
        else:
            await store.runs.finish(run.id, status=ending, completed_at=completed)
    points = []
    for i in range(240):
        task = tasks[i % len(tasks)]
        points.append(
            {
                "name": METRICS[i % len(METRICS)],
                "value": rng.uniform(-50, 5000) if i % 11 else float(i),
                "unit": "ms" if i % 3 == 0 else None,
                "labels": {"shard": i % 4},
                "task_id": task,
                "run_id": made[i % len(made)] if i % 2 else None,
                "recorded_at": base + timedelta(seconds=rng.randrange(9 * 86_400)),
            }
        )
    # A run's points carry its own task: the run of made[j] belongs to tasks[j % 5].
    for point in points:
        if point["run_id"] is not None:
            point["task_id"] = tasks[made.index(point["run_id"]) % len(tasks)]  # type: ignore[arg-type]
    await store.metrics.record_batch(points)
    return Filled(base, tasks, made)


#: 1970-01-01 00:00:00 UTC, around which :func:`fill_epoch` ends runs.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


async def fill_epoch(store: Store, task_id: uuid.UUID) -> None:
    """Runs that ended just before, at and after 1970-01-01 (history brought in from
    elsewhere): the sink keeps ends in whole seconds since then, holding 0 for earlier
    ones, so windows there must be asked of the end itself."""
    endings = (
        (EPOCH - timedelta(hours=1), 3599.5, RunStatus.COMPLETED),  # 23:59:59.5
        (EPOCH - timedelta(seconds=10), 10.0, RunStatus.FAILED),  # 00:00:00 exactly
        (EPOCH - timedelta(seconds=10), 10.5, RunStatus.TIMEOUT),  # 00:00:00.5
        (EPOCH - timedelta(seconds=5), 6.0, RunStatus.CANCELLED),  # 00:00:01
    )
    for started, took, ending in endings:
        run = await store.runs.start(task_id, started_at=started)
        completed = started + timedelta(seconds=took)
        if ending is RunStatus.FAILED:
            await store.runs.fail(run.id, error_message="old", completed_at=completed)
        else:
            await store.runs.finish(run.id, status=ending, completed_at=completed)

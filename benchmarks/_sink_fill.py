"""The sink benchmark's data, written fast by COPY (setup, untimed).

One customer's month of agent work on PostgreSQL: tasks (made through the
services), then task runs, agent runs, events and metric points by psycopg's
COPY with the foreign-key triggers off for the filling connection, as
``benchmarks/_fill.py`` does. Times spread over the last 30 days; runs end four
ways with durations across the histogram; agent runs carry usage.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import create_engine

from benchmarks._databases import Database
from flightlog.db.partition_layout import slot_of
from flightlog.db.partitions import ensure_slots
from flightlog.db.types import new_uuid
from flightlog.services import tasks
from flightlog.store import Store

AGENTS = ("TeamLeader", "ProductManager", "Architect", "Engineer", "QA", "Reviewer")
OUTCOMES = ("COMPLETED", "COMPLETED", "COMPLETED", "FAILED", "TIMEOUT", "CANCELLED")
METRICS = ("latency_ms", "tokens_per_s", "cpu_percent", "queue_depth")
EVENT_TYPES = ("LOG", "MESSAGE", "LOG", "RESULT", "LOG", "ERROR")
DAYS = 30


@dataclass(frozen=True)
class Scale:
    events: int
    task_runs: int
    agent_runs_per_run: int
    metric_points: int
    tasks: int


FULL = Scale(
    events=5_000_000, task_runs=200_000, agent_runs_per_run=5, metric_points=2_000_000, tasks=1000
)
QUICK = Scale(
    events=200_000, task_runs=8_000, agent_runs_per_run=5, metric_points=80_000, tasks=100
)


@dataclass(frozen=True)
class Filled:
    customer: uuid.UUID
    tasks: list[uuid.UUID]
    since: datetime
    rows: dict[str, int]


def _copy(db: Database, table: str, columns: list[str], rows: Iterator[tuple[Any, ...]]) -> int:
    count = 0
    with db.psycopg() as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("SET synchronous_commit = off")
        with (
            conn.cursor() as cursor,
            cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
                count += 1
    return count


def _partitions(db: Database, since: datetime, until: datetime) -> None:
    """The months of the window exist on the partitioned tables (0010) before COPY."""
    engine = create_engine(db.conninfo.replace("postgresql://", "postgresql+psycopg://", 1))
    slots = {slot_of(since + timedelta(days=d)) for d in range((until - since).days + 2)}
    try:
        with engine.begin() as conn:
            for table in ("events", "metric_points"):
                ensure_slots(conn, table, slots)
    finally:
        engine.dispose()


async def fill(db: Database, store: Store, scale: Scale, seed: int = 16) -> Filled:
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    since = now - timedelta(days=DAYS)
    async with store.transaction() as s:
        task_ids = [
            (await s.run_sync(tasks.create_task, store.customer_id, title=f"bench {i}")).id
            for i in range(scale.tasks)
        ]
    _partitions(db, since, now)
    span = DAYS * 86_400
    runs: list[tuple[uuid.UUID, uuid.UUID, datetime]] = []

    def task_runs() -> Iterator[tuple[Any, ...]]:
        numbers: dict[uuid.UUID, int] = {}
        for i in range(scale.task_runs):
            task = task_ids[i % len(task_ids)]
            numbers[task] = numbers.get(task, 0) + 1
            started = since + timedelta(seconds=rng.random() * span)
            status = OUTCOMES[i % len(OUTCOMES)] if i % 50 else "RUNNING"
            duration = rng.choice((0.4, 3.0, 12.0, 45.0, 90.0, 400.0, 2000.0, 5000.0))
            done = status != "RUNNING"
            run_id = new_uuid()
            runs.append((run_id, task, started))
            yield (
                run_id,
                task,
                numbers[task],
                status,
                "{}",
                started,
                started + timedelta(seconds=duration) if done else None,
                duration if done else None,
                started,
                started,
            )

    def agent_runs() -> Iterator[tuple[Any, ...]]:
        for run_id, task, started in runs:
            for k in range(scale.agent_runs_per_run):
                at = started + timedelta(seconds=k * 20 + rng.random() * 10)
                yield (
                    new_uuid(),
                    task,
                    run_id,
                    AGENTS[(k + hash(run_id)) % len(AGENTS)],
                    "COMPLETED" if k % 7 else "FAILED",
                    at,
                    at + timedelta(seconds=15),
                    15.0,
                    rng.randrange(20_000),
                    rng.randrange(8_000),
                    Decimal(rng.randrange(10**6)) / Decimal(10**6),
                    "{}",
                )

    def events() -> Iterator[tuple[Any, ...]]:
        for i in range(scale.events):
            run_id, task, _ = runs[i % len(runs)]
            yield (
                store.customer_id,
                task,
                run_id,
                EVENT_TYPES[i % len(EVENT_TYPES)],
                AGENTS[i % len(AGENTS)],
                f"step {i}: wrote src/module_{i % 50}.py",
                json.dumps({"i": i, "tool": "editor"}),
                since + timedelta(seconds=(i * 7919) % span),
            )

    def points() -> Iterator[tuple[Any, ...]]:
        for i in range(scale.metric_points):
            run_id, task, _ = runs[i % len(runs)]
            # A fifth of the points on one long-running task: a series over the whole month.
            if i % 5 == 0:
                task, run_id = task_ids[0], None
            yield (
                task,
                run_id,
                METRICS[i % len(METRICS)],
                rng.uniform(0, 1000),
                "ms",
                json.dumps({"shard": i % 8}),
                since + timedelta(seconds=(i * 104_729) % span),
            )

    rows = {
        "task_runs": _copy(
            db,
            "task_runs",
            [
                "id",
                "task_id",
                "run_number",
                "status",
                "input_context",
                "started_at",
                "completed_at",
                "duration_seconds",
                "created_at",
                "updated_at",
            ],
            task_runs(),
        ),
        "agent_runs": _copy(
            db,
            "agent_runs",
            [
                "id",
                "task_id",
                "run_id",
                "agent_name",
                "status",
                "started_at",
                "finished_at",
                "duration_seconds",
                "tokens_in",
                "tokens_out",
                "cost_usd",
                "details",
            ],
            agent_runs(),
        ),
        "events": _copy(
            db,
            "events",
            [
                "customer_id",
                "task_id",
                "run_id",
                "event_type",
                "agent_role",
                "content",
                "data",
                "created_at",
            ],
            events(),
        ),
        "metric_points": _copy(
            db,
            "metric_points",
            ["task_id", "run_id", "name", "value", "unit", "labels", "recorded_at"],
            points(),
        ),
    }
    with db.psycopg() as conn:
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    return Filled(store.customer_id, task_ids, since, rows)

"""Deterministic rows shaped like an agent platform's: the same input for every path.

Flightlog gets plain dicts (what an application passes); the raw-driver
ceilings get the same rows already converted to the driver's form, built
before the clock starts, so a ratio compares only the work each path does.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flightlog.db.types import new_uuid
from flightlog.ingest.events import EVENT_COLUMNS as INGEST_EVENT_COLUMNS
from flightlog.ingest.metrics import METRIC_COLUMNS as INGEST_METRIC_COLUMNS
from flightlog.services import agent_runs, runs, tasks
from flightlog.store import Store

ROLES = ("TeamLeader", "ProductManager", "Architect", "Engineer", "QA")
EVENT_TYPES = ("LOG", "MESSAGE", "LOG", "RESULT", "LOG", "AGENT_START", "LOG", "ERROR")
TOOLS = ("bash", "editor", "browser", "python")
METRIC_NAMES = ("tokens_in", "tokens_out", "latency_ms", "cost_usd", "cpu_percent")
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

#: The raw ceilings write the same columns as Flightlog's ingest; their event rows
#: leave ``created_at`` (the clock column, last) to the database default.
EVENT_COLUMNS = INGEST_EVENT_COLUMNS[:-1]
METRIC_COLUMNS = INGEST_METRIC_COLUMNS


@dataclass(frozen=True)
class Fixture:
    """The tenant and the tasks, runs and agent runs that ingested rows refer to."""

    customer_id: uuid.UUID
    tasks: list[uuid.UUID]
    runs: list[uuid.UUID]
    agent_runs: list[list[uuid.UUID]]
    big_share_percent: int

    def slot(self, i: int) -> int:
        """Which task row ``i`` belongs to: slot 0 is the long-running task."""
        if (i * 2654435761) % 100 < self.big_share_percent:
            return 0
        return 1 + i % (len(self.tasks) - 1)


async def create_fixture(store: Store, *, task_count: int, big_share: float) -> Fixture:
    """Tasks with one running run and three agent runs each, made through the services."""
    task_ids: list[uuid.UUID] = []
    run_ids: list[uuid.UUID] = []
    agents: list[list[uuid.UUID]] = []
    customer = store.customer_id
    async with store.transaction() as s:
        for t in range(task_count):
            task = await s.run_sync(tasks.create_task, customer, title=f"bench task {t}")
            run = await s.run_sync(runs.start_run, customer, task.id)
            steps = [
                await s.run_sync(agent_runs.start_agent_run, customer, run.id, agent_name=role)
                for role in ROLES[:3]
            ]
            task_ids.append(task.id)
            run_ids.append(run.id)
            agents.append([step.id for step in steps])
    return Fixture(customer, task_ids, run_ids, agents, round(big_share * 100))


def event(fx: Fixture, i: int) -> dict[str, Any]:
    k = fx.slot(i)
    role = ROLES[i % len(ROLES)]
    tool = TOOLS[i % len(TOOLS)]
    path = f"src/module_{i % 50}.py"
    return {
        "event_type": EVENT_TYPES[i % len(EVENT_TYPES)],
        "severity": "ERROR" if i % 97 == 0 else "INFO",
        "task_id": fx.tasks[k],
        "run_id": fx.runs[k],
        "agent_run_id": fx.agent_runs[k][i % 3] if i % 3 == 0 else None,
        "agent_role": role,
        "content": f"{role} step {i}: ran {tool} on {path}",
        "data": {"step": i, "tool": tool, "ok": i % 13 != 0, "files": [path]},
    }


def events(fx: Fixture, start: int, count: int) -> Iterator[dict[str, Any]]:
    return (event(fx, i) for i in range(start, start + count))


def metric(fx: Fixture, i: int) -> dict[str, Any]:
    k = fx.slot(i)
    name = METRIC_NAMES[i % len(METRIC_NAMES)]
    return {
        "name": name,
        "value": ((i * 37) % 10_000) / 10,
        "metric_type": "COUNTER" if name.startswith("tokens") else "GAUGE",
        "unit": "ms" if name == "latency_ms" else None,
        "labels": {"model": "gpt-4o", "role": ROLES[i % len(ROLES)]},
        "task_id": fx.tasks[k],
        "run_id": fx.runs[k],
        "recorded_at": EPOCH + timedelta(milliseconds=i),
    }


def metrics(fx: Fixture, start: int, count: int) -> Iterator[dict[str, Any]]:
    return (metric(fx, i) for i in range(start, start + count))


def _uuid(dialect: str, value: uuid.UUID | None) -> Any:
    if value is None or dialect == "postgresql":
        return value
    return value.hex


def _time(dialect: str, value: datetime | None) -> Any:
    if value is None or dialect == "postgresql":
        return value
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def event_rows(dialect: str, fx: Fixture, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The same events as driver-ready tuples in ``EVENT_COLUMNS`` order."""
    customer = _uuid(dialect, fx.customer_id)
    return [
        (
            customer,
            _uuid(dialect, e["task_id"]),
            _uuid(dialect, e["run_id"]),
            _uuid(dialect, e["agent_run_id"]),
            None,
            None,
            e["event_type"],
            e["severity"],
            e["agent_role"],
            e["content"],
            json.dumps(e["data"]),
            None,  # entity_type
            None,  # entity_id
            None,  # actor
            None,  # trace_id
            None,  # span_id
        )
        for e in rows
    ]


def metric_rows(dialect: str, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The same points as driver-ready tuples in ``METRIC_COLUMNS`` order."""
    return [
        (
            _uuid(dialect, m["task_id"]),
            _uuid(dialect, m["run_id"]),
            None,
            m["name"],
            m["metric_type"],
            float(m["value"]),
            m["unit"],
            json.dumps(m["labels"]),
            _time(dialect, m["recorded_at"]),
        )
        for m in rows
    ]


TASK_COLUMNS = (
    "id",
    "customer_id",
    "title",
    "status",
    "priority",
    "config",
    "requirements",
    "context",
    "tags",
    "max_rounds",
    "memory_size",
    "total_runs",
    "successful_runs",
    "failed_runs",
    "success_rate",
    "avg_duration_seconds",
    "last_run_at",
    "started_at",
    "completed_at",
)
RUN_COLUMNS = (
    "id",
    "task_id",
    "run_number",
    "status",
    "input_context",
    "started_at",
    "completed_at",
    "duration_seconds",
    "tokens_in",
    "tokens_out",
    "cost_usd",
)
_OUTCOMES = ("COMPLETED",) * 14 + ("FAILED",) * 3 + ("TIMEOUT", "CANCELLED", "CANCELLED")


def listing(
    dialect: str, customer_id: uuid.UUID, task_count: int, run_count: int, chunk: int = 20_000
) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """Tasks with their runs, in chunks, with statistics that agree with the runs."""
    rng = random.Random(42)
    per_task, extra = divmod(run_count, task_count)
    task_rows: list[tuple[Any, ...]] = []
    run_rows: list[tuple[Any, ...]] = []
    for t in range(task_count):
        task_id = new_uuid()
        start = EPOCH + timedelta(minutes=t)
        ok = bad = 0
        durations: list[float] = []
        status = "PENDING"
        for n in range(per_task + (1 if t < extra else 0)):
            status = rng.choice(_OUTCOMES)
            began = start + timedelta(seconds=30 * n)
            took = rng.uniform(1, 600)
            ok += status == "COMPLETED"
            bad += status in ("FAILED", "TIMEOUT")
            durations.append(took)
            run_rows.append(
                (
                    _uuid(dialect, new_uuid()),
                    _uuid(dialect, task_id),
                    n + 1,
                    status,
                    "{}",
                    _time(dialect, began),
                    _time(dialect, began + timedelta(seconds=took)),
                    took,
                    rng.randint(100, 5000),
                    rng.randint(100, 5000),
                    0,
                )
            )
        runs_made = len(durations)
        last = start + timedelta(seconds=30 * (runs_made - 1)) if runs_made else None
        task_rows.append(
            (
                _uuid(dialect, task_id),
                _uuid(dialect, customer_id),
                f"listed task {t}: refactor module {t % 500}",
                status,
                rng.randint(0, 5),
                "{}",
                "{}",
                "{}",
                json.dumps(["bench", ROLES[t % len(ROLES)]]),
                5,
                50,
                runs_made,
                ok,
                bad,
                round(100.0 * ok / (ok + bad), 4) if ok + bad else 0.0,
                sum(durations) / runs_made if runs_made else None,
                _time(dialect, last),
                _time(dialect, start),
                _time(dialect, last),
            )
        )
        if len(run_rows) >= chunk:
            yield task_rows, run_rows
            task_rows, run_rows = [], []
    if task_rows or run_rows:
        yield task_rows, run_rows

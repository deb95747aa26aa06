"""One scenario, four faces: the async Store, the sync Store, the async and the sync client.

Code written against :data:`flightlog.Flightlog` (``SyncStore | Client``) or
:data:`flightlog.AsyncFlightlog` (``Store | AsyncClient``) runs embedded or
remote by changing the line that opens it. The same scenario (task -> run ->
nested agent runs with usage -> events -> metrics -> artifact -> finish) is
written once per colour (sync / async) against those types, run through each
face as its own customer of one database, on both dialects, and the rows it
leaves are compared: they must be the same, whatever face wrote them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import Session

from flightlog import AgentRunStatus, AsyncFlightlog, Flightlog, RunStatus, open_store_sync
from flightlog.client import AsyncClient, Client
from flightlog.db.engine import create_sync_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.models import AgentRun, Artifact, Event, MetricPoint, Task, TaskRun
from flightlog.settings import Settings
from flightlog.store import open_store
from tracing_support import Served, new_database, url_text

DESIGN = b"# Design\n\nA todo app with three screens.\n"
_ROLE = {"role": "design"}


def _LOG_EXTRA(i: int) -> dict[str, Any]:  # noqa: N802  (reads as a constant in the scenario)
    return {"data": {"i": i}, "agent_role": "Engineer"}


def scenario(fl: Flightlog) -> uuid.UUID:
    """The whole life of a task, synchronously; returns the task's id."""
    task = fl.tasks.create(title="Four faces", tags=["faces"], max_rounds=3, priority=2)
    run = fl.runs.start(task.id, input_context={"round": 1})
    architect = fl.agent_runs.start(run.id, agent_name="Architect", details=_ROLE)
    engineer = fl.agent_runs.start(run.id, agent_name="Engineer", parent_id=architect.id)
    fl.agent_runs.record_usage(engineer.id, tokens_in=1200, tokens_out=300, cost_usd="0.0125")
    fl.agent_runs.finish(engineer.id, status=AgentRunStatus.COMPLETED, output_summary="code")
    fl.agent_runs.finish(architect.id, status=AgentRunStatus.COMPLETED, output_summary="design")
    fl.events.append({"event_type": "message", "run_id": run.id, "content": "design ready"})
    fl.events.append_batch(
        [
            {
                "event_type": "log",
                "run_id": run.id,
                "content": f"step {i}",
                "data": {"i": i},
                "agent_role": "Engineer",
            }
            for i in range(40)
        ]
    )
    fl.metrics.record_batch(
        [{"name": "latency_ms", "value": 10.0 * i, "run_id": run.id} for i in range(12)]
    )
    fl.artifacts.put(task.id, "design.md", DESIGN, content_type="text/markdown", run_id=run.id)
    fl.runs.finish(run.id, status=RunStatus.COMPLETED, results={"files": 3})
    return task.id


async def scenario_async(fl: AsyncFlightlog) -> uuid.UUID:
    """:func:`scenario`, line for line, for the async faces."""
    task = await fl.tasks.create(title="Four faces", tags=["faces"], max_rounds=3, priority=2)
    run = await fl.runs.start(task.id, input_context={"round": 1})
    architect = await fl.agent_runs.start(
        run.id, agent_name="Architect", details={"role": "design"}
    )
    engineer = await fl.agent_runs.start(run.id, agent_name="Engineer", parent_id=architect.id)
    await fl.agent_runs.record_usage(engineer.id, tokens_in=1200, tokens_out=300, cost_usd="0.0125")
    await fl.agent_runs.finish(engineer.id, status=AgentRunStatus.COMPLETED, output_summary="code")
    await fl.agent_runs.finish(
        architect.id, status=AgentRunStatus.COMPLETED, output_summary="design"
    )
    await fl.events.append({"event_type": "message", "run_id": run.id, "content": "design ready"})
    await fl.events.append_batch(
        [
            {
                "event_type": "log",
                "run_id": run.id,
                "content": f"step {i}",
                "data": {"i": i},
                "agent_role": "Engineer",
            }
            for i in range(40)
        ]
    )
    await fl.metrics.record_batch(
        [{"name": "latency_ms", "value": 10.0 * i, "run_id": run.id} for i in range(12)]
    )
    await fl.artifacts.put(
        task.id, "design.md", DESIGN, content_type="text/markdown", run_id=run.id
    )
    await fl.runs.finish(run.id, status=RunStatus.COMPLETED, results={"files": 3})
    return task.id


def _snapshot(engine: Engine, task_id: uuid.UUID) -> dict[str, Any]:
    """What the scenario left, without ids, times and the customer (which differ by face)."""
    with Session(engine) as s:
        task = s.get(Task, task_id)
        assert task is not None
        runs = s.scalars(select(TaskRun).where(TaskRun.task_id == task_id)).all()
        agent_runs = s.scalars(
            select(AgentRun).where(AgentRun.task_id == task_id).order_by(AgentRun.agent_name)
        ).all()
        names = {a.id: a.agent_name for a in agent_runs}
        run_ids = [r.id for r in runs]
        events = s.scalars(
            select(Event)
            .where(or_(Event.task_id == task_id, Event.run_id.in_(run_ids)))
            .order_by(Event.id)
        ).all()
        metrics = s.scalars(
            select(MetricPoint)
            .where(or_(MetricPoint.task_id == task_id, MetricPoint.run_id.in_(run_ids)))
            .order_by(MetricPoint.id)
        ).all()
        artifacts = s.scalars(select(Artifact).where(Artifact.task_id == task_id)).all()
        return {
            "task": (
                task.title,
                task.status,
                task.tags,
                task.max_rounds,
                task.priority,
                task.total_runs,
                task.successful_runs,
                task.success_rate,
            ),
            "runs": [
                (
                    r.run_number,
                    r.status,
                    r.input_context,
                    r.results,
                    r.tokens_in,
                    r.tokens_out,
                    r.cost_usd,
                )
                for r in runs
            ],
            "agent_runs": [
                (
                    a.agent_name,
                    a.details,
                    a.status,
                    names.get(a.parent_id) if a.parent_id else None,
                    a.tokens_in,
                    a.tokens_out,
                    a.cost_usd,
                    a.output_summary,
                )
                for a in agent_runs
            ],
            "events": [
                (e.event_type, e.content, e.data, e.agent_role, e.run_id is not None)
                for e in events
            ],
            "metrics": [(m.name, m.value, m.run_id is not None) for m in metrics],
            "artifacts": [
                (a.name, a.version, a.content_type, a.size_bytes, a.sha256) for a in artifacts
            ],
        }


@pytest.fixture
def database(
    dialect: str, tmp_path: Path, postgres_server: Any, test_settings: Settings
) -> Iterator[str]:
    url = new_database(dialect, tmp_path, postgres_server, test_settings)
    yield url_text(url)
    if dialect == "postgresql":
        postgres_server.drop_database(url)


def test_one_scenario_leaves_the_same_rows_through_all_four_faces(
    database: str, test_settings: Settings, tmp_path: Path
) -> None:
    settings = test_settings.model_copy(update={"blob_dir": tmp_path / "blobs"})
    with open_store_sync(database, settings=settings) as operator:
        customers = {
            face: operator.customers.create(name=face, email=f"{face}@faces.test").id
            for face in ("sync_store", "async_store", "sync_client", "async_client")
        }
    keys = {}
    for face in ("sync_client", "async_client"):
        with open_store_sync(database, settings=settings, customer_id=customers[face]) as store:
            keys[face] = store.api_keys.create(f"{face} key").key

    tasks: dict[str, uuid.UUID] = {}
    with open_store_sync(database, settings=settings, customer_id=customers["sync_store"]) as fl:
        tasks["sync_store"] = scenario(fl)

    async def async_store() -> uuid.UUID:
        async with open_store(
            database, settings=settings, customer_id=customers["async_store"]
        ) as fl:
            return await scenario_async(fl)

    tasks["async_store"] = asyncio.run(async_store())

    server = Served(database, tmp_path / "serve.log")
    try:
        with Client(server.base, keys["sync_client"]) as client:
            tasks["sync_client"] = scenario(client)

        async def async_client() -> uuid.UUID:
            async with AsyncClient(server.base, keys["async_client"]) as fl:
                return await scenario_async(fl)

        tasks["async_client"] = asyncio.run(async_client())
    finally:
        server.stop()

    engine = create_sync_engine(settings, url=DatabaseUrl.parse(database))
    try:
        snapshots = {face: _snapshot(engine, task_id) for face, task_id in tasks.items()}
    finally:
        engine.dispose()
    reference = snapshots["sync_store"]
    assert reference["task"][1].value == "COMPLETED"
    assert len(reference["events"]) > 41  # the scenario's 41 and the lifecycle's own
    assert [a[0] for a in reference["agent_runs"]] == ["Architect", "Engineer"]
    assert reference["agent_runs"][1][3] == "Architect"  # nested under its parent
    for face, snapshot in snapshots.items():
        assert snapshot == reference, face

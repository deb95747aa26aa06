"""Seed 001: ids the caller chooses, string UUIDs, and relationships in a ``SessionLocal``.

Seed 001 makes its own task ids (``id=str(uuid.uuid4())``), works in a plain
synchronous session (``db = SessionLocal(); db.add(task); db.commit()``) and
walks ``task.agent_runs`` / ``task.event_logs`` there. Flightlog takes ``id=`` on
tasks, runs and agent runs (a taken id is ``Conflict``, the same words whoever
holds it), UUID text on both dialects, and loads relationships on access in
``SyncStore.session()`` while async code and the Store's own sessions keep
``raise_on_sql``. Both dialects.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import InvalidRequestError

from api_client import client_of, error_code
from flightlog import Conflict, Store, SyncStore, ValidationError
from flightlog.enums import AgentRunStatus, EventType, TaskStatus
from flightlog.models import AgentRun, EventLog, Task, TaskRun
from test_client import client_for


async def _conflict(call: Any) -> Conflict:
    with pytest.raises(Conflict) as caught:
        await call
    return caught.value


async def test_seed001_caller_chosen_ids_are_kept_and_a_taken_one_is_a_conflict(
    store: Store, other: Store
) -> None:
    task_id, run_id, step_id, queued_id = (uuid.uuid4() for _ in range(4))
    task = await store.tasks.create(title="moved in", id=task_id)
    assert task.id == task_id
    assert (await store.tasks.get(task_id)).title == "moved in"
    text_id = str(uuid.uuid4())
    as_text = await store.tasks.create(title="text id", id=text_id)
    assert as_text.id == uuid.UUID(text_id)
    assert (await store.tasks.get(text_id)).id == as_text.id  # type: ignore[arg-type]
    run = await store.runs.start(task_id, id=run_id)
    step = await store.agent_runs.start(run.id, agent_name="Architect", id=str(step_id))
    alone = await store.agent_runs.start_for_task(task_id, agent_name="ProductManager")
    queued = await store.runs.enqueue(as_text.id, id=queued_id)
    assert (run.id, step.id, queued.id) == (run_id, step_id, queued_id)

    mine = await _conflict(store.tasks.create(title="again", id=task_id))
    theirs = await _conflict(other.tasks.create(title="again", id=str(task_id)))
    # Another customer learns that the id is in use, and nothing else.
    assert str(mine) == str(theirs) == f"Task id {task_id} is already taken"
    assert mine.details == theirs.details == {"entity": "Task", "id": str(task_id)}
    their_task = await other.tasks.create(title="theirs")
    for call in (
        other.runs.start(their_task.id, id=run_id),
        other.runs.enqueue(their_task.id, id=queued_id),
        other.agent_runs.start_for_task(their_task.id, agent_name="x", id=step_id),
        store.agent_runs.start_for_task(task_id, agent_name="x", id=alone.id),
    ):
        assert "is already taken" in str(await _conflict(call))
    with pytest.raises(ValidationError, match="must be a UUID"):
        await store.tasks.create(title="bad", id="not-a-uuid")
    with pytest.raises(ValidationError, match="nil UUID"):
        await store.tasks.create(title="nil", id=uuid.UUID(int=0))

    # Nothing refused was written.
    assert (await store.tasks.list(total=True)).total == 2
    assert (await other.tasks.list(total=True)).total == 1
    assert await other.runs.list(their_task.id) == []
    assert [r.id for r in await store.runs.list(task_id)] == [run_id]
    assert (await store.agent_runs.list_for_task(task_id, total=True)).total == 2


async def test_seed001_chosen_ids_over_http_and_the_typed_client(
    store: Store, other: Store
) -> None:
    chosen = uuid.uuid4()
    async with client_for(store) as fl:
        task = await fl.tasks.create(title="over http", id=chosen)
        assert task.id == chosen
        run = await fl.runs.start(task.id, id=(run_id := uuid.uuid4()))
        assert run.id == run_id
        step = await fl.agent_runs.start_for_task(task.id, agent_name="PM", id=str(uuid.uuid4()))
        with pytest.raises(Conflict, match="already taken"):
            await fl.agent_runs.start(run.id, agent_name="again", id=step.id)
    async with client_of(store) as api, client_of(other) as their_api:
        again = await api.post("/tasks", json={"title": "again", "id": str(chosen)})
        theirs = await their_api.post("/tasks", json={"title": "again", "id": str(chosen)})
        assert error_code(again, 409) == error_code(theirs, 409) == "conflict"
        assert again.json()["error"]["message"] == theirs.json()["error"]["message"]
        bad = await api.post("/tasks", json={"title": "bad", "id": "nope"})
        assert error_code(bad, 422) == "validation_error"
        their_task = (await their_api.post("/tasks", json={"title": "theirs"})).json()
        taken_run = await their_api.post(
            f"/tasks/{their_task['id']}/runs", json={"id": str(run_id)}
        )
        assert error_code(taken_run, 409) == "conflict"
    assert (await other.tasks.list(total=True)).total == 1
    assert await other.runs.list(uuid.UUID(their_task["id"])) == []


def test_seed001_session_local_style_with_string_ids_loads_relationships(
    sync_store: SyncStore,
) -> None:
    task_id = str(uuid.uuid4())
    with sync_store.session() as db:
        task = Task(
            id=task_id,
            title="Build Todo App",
            input_prompt="Create a todo application with React",
            status=TaskStatus.PENDING,
            customer_id=sync_store.customer_id,
        )
        db.add(task)
        db.commit()
        event = EventLog(
            task_id=task.id,
            customer_id=sync_store.customer_id,
            event_type=EventType.MESSAGE,
            agent_role="ProductManager",
            content='{"message": "Creating PRD..."}',
        )
        agent_run = AgentRun(
            task_id=task.id, agent_name="ProductManager", status=AgentRunStatus.STARTED
        )
        db.add_all([event, agent_run])
        db.commit()
        agent_run.status = AgentRunStatus.COMPLETED
        agent_run.finished_at = datetime.now(UTC)
        agent_run.output_summary = "PRD created successfully"
        db.commit()

        # Objects this session created, never SELECTed: relationships load on access.
        assert [a.agent_name for a in task.agent_runs] == ["ProductManager"]
        assert agent_run.task is task
        assert agent_run.run is None
        assert task.runs == []
        assert agent_run.children == []
        assert [e.content for e in db.scalars(task.events.select())] == [event.content]
        db.refresh(task)
        db.expire(agent_run)
        assert [a.status for a in task.agent_runs] == [AgentRunStatus.COMPLETED]
        assert agent_run.task.title == "Build Todo App"

        found = db.query(Task).filter(Task.id == task_id).first()  # a str id, either dialect
        assert found is task
        runs = db.query(AgentRun).filter(AgentRun.task_id == task_id)
        assert [a.output_summary for a in runs.order_by(AgentRun.started_at)] == [
            "PRD created successfully"
        ]

    # A run made through the Store, its agent run added in the session from outside.
    run = sync_store.runs.start(uuid.UUID(task_id))
    step = sync_store.agent_runs.start(run.id, agent_name="Architect")
    with sync_store.session() as db:
        db.add(step)  # detached -> persistent: its relationships load too
        assert step.run is not None
        assert step.run.id == run.id
        loaded = db.get(TaskRun, run.id)
        assert loaded is not None
        assert [a.agent_name for a in loaded.agent_runs] == ["Architect"]
    assert sync_store.tasks.get(uuid.UUID(task_id)).total_runs == 1


def test_seed001_the_stores_own_sessions_keep_raise_on_sql(sync_store: SyncStore) -> None:
    with sync_store.transaction() as session:
        task = Task(title="explicit", customer_id=sync_store.customer_id)
        session.add(task)
        session.flush()
        with pytest.raises(InvalidRequestError, match="raise_on_sql"):
            _ = task.agent_runs
        session.refresh(task)
        with pytest.raises(InvalidRequestError, match="raise_on_sql"):
            _ = task.agent_runs


async def test_seed001_async_code_keeps_explicit_loading(store: Store) -> None:
    task = await store.tasks.create(title="async")
    await store.agent_runs.start_for_task(task.id, agent_name="PM")
    async with store.transaction() as session:
        added = Task(title="added", customer_id=store.customer_id, id=str(uuid.uuid4()))
        session.add(added)
        await session.flush()
        with pytest.raises(InvalidRequestError, match="raise_on_sql"):
            _ = added.agent_runs
        loaded = await session.scalar(select(Task).where(Task.id == task.id))
        assert loaded is not None
        with pytest.raises(InvalidRequestError, match="raise_on_sql"):
            _ = loaded.agent_runs
        with pytest.raises(InvalidRequestError, match="raise_on_sql"):
            _ = loaded.runs

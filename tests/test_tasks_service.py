"""Tasks through the service layer: create, update, list, subtasks, dependencies, ready, cancel."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from flightlog import Conflict, InvalidTransition, NotFound, TaskStatus, ValidationError
from flightlog.enums import EventType, RunStatus
from flightlog.models import Event, Project, Task
from flightlog.store import Store


async def _count_events(store: Store, task_id: uuid.UUID) -> int:
    async with store.reader() as s:
        return int(await s.scalar(select(func.count()).where(Event.task_id == task_id)) or 0)


async def test_create_defaults_and_creation_event(store: Store) -> None:
    task = await store.tasks.create(title="Market analysis", config={"model": "gpt-4"})
    assert task.status is TaskStatus.PENDING
    assert task.max_rounds == 5
    assert task.memory_size == 50
    assert task.customer_id == store.customer_id
    assert task.created_at.tzinfo is not None
    page = await store.events.list(task_id=task.id)
    assert [e.event_type for e in page.items] == [EventType.STATUS_CHANGE]
    assert page.items[0].data == {"entity": "Task", "from": None, "to": "PENDING"}


async def test_title_defaults_to_the_prompt_first_line(store: Store) -> None:
    task = await store.tasks.create(input_prompt="Create a todo app\nwith React")
    assert task.title == "Create a todo app"
    assert task.input_prompt == "Create a todo app\nwith React"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"title": ""}, "title"),
        ({"title": "x", "max_rounds": 0}, "max_rounds"),
        ({"title": "x", "tags": "frontend"}, "tags"),
        ({"title": "x", "config": [1]}, "config"),
        ({"title": "x", "assigned_agent_type": "WIZARD"}, "agent type"),
    ],
)
async def test_bad_input_is_refused_and_writes_nothing(
    store: Store, fields: dict[str, object], message: str
) -> None:
    before = (await store.tasks.list()).items
    with pytest.raises(ValidationError, match=message):
        await store.tasks.create(**fields)
    assert (await store.tasks.list()).items == before


async def test_update_changes_fields_but_not_status(store: Store) -> None:
    task = await store.tasks.create(title="Draft")
    updated = await store.tasks.update(task.id, title="Final", priority=3, tags=["x"])
    assert (updated.title, updated.priority, updated.tags) == ("Final", 3, ["x"])
    assert updated.updated_at >= task.updated_at
    # Status and statistics are not parameters at all: mypy refuses these calls, and
    # at run time Python does, before anything is written.
    with pytest.raises(TypeError, match="unexpected keyword argument 'status'"):
        await store.tasks.update(task.id, status=TaskStatus.COMPLETED)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'total_runs'"):
        await store.tasks.update(task.id, total_runs=5)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'status'"):
        await store.tasks.create(title="x", status="RUNNING")  # type: ignore[call-arg]
    assert (await store.tasks.get(task.id)).status is TaskStatus.PENDING
    assert [t.id for t in (await store.tasks.list()).items] == [task.id]


async def test_list_filters_and_keyset_pagination(store: Store) -> None:
    async with store.transaction() as s:
        project = Project(customer_id=store.customer_id, name=f"p-{uuid.uuid4().hex[:6]}")
        s.add(project)
    created = []
    for i in range(7):
        created.append(
            await store.tasks.create(
                title=f"t{i}",
                priority=i % 3,
                tags=["frontend"] if i % 2 else ["backend"],
                project_id=project.id if i < 3 else None,
            )
        )
    seen: list[uuid.UUID] = []
    cursor = None
    while True:
        page = await store.tasks.list(limit=3, cursor=cursor)
        seen.extend(t.id for t in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [t.id for t in reversed(created)]
    frontend = await store.tasks.list(tag="frontend")
    assert {t.title for t in frontend.items} == {"t1", "t3", "t5"}
    assert {t.title for t in (await store.tasks.list(priority=2)).items} == {"t2", "t5"}
    assert {t.title for t in (await store.tasks.list(project_id=project.id)).items} == {
        "t0",
        "t1",
        "t2",
    }
    assert (await store.tasks.list(status=TaskStatus.RUNNING)).items == []
    both = await store.tasks.list(tag="frontend", min_priority=1)
    assert {t.title for t in both.items} == {"t1", "t5"}


async def test_subtasks_and_parent_filter(store: Store) -> None:
    parent = await store.tasks.create(title="Epic")
    kids = [
        await store.tasks.create(title=f"story {i}", parent_task_id=parent.id) for i in range(3)
    ]
    assert [t.id for t in await store.tasks.subtasks(parent.id)] == [k.id for k in kids]
    listed = await store.tasks.list(parent_task_id=parent.id)
    assert {t.id for t in listed.items} == {k.id for k in kids}
    top = await store.tasks.list(top_level_only=True)
    assert [t.id for t in top.items] == [parent.id]


async def test_dependencies_ready_queue_and_cycles(store: Store) -> None:
    design = await store.tasks.create(title="design")
    build = await store.tasks.create(title="build", depends_on=[design.id])
    test = await store.tasks.create(title="test", depends_on=[build.id])
    assert [t.title for t in await store.tasks.ready()] == ["design"]
    assert [t.id for t in await store.tasks.dependencies(test.id)] == [build.id]
    with pytest.raises(ValidationError, match="cycle"):
        await store.tasks.add_dependency(design.id, test.id)
    with pytest.raises(ValidationError, match="itself"):
        await store.tasks.add_dependency(design.id, design.id)
    with pytest.raises(Conflict):
        await store.tasks.add_dependency(build.id, design.id)
    run = await store.runs.start(design.id)
    await store.runs.finish(run.id, results={"ok": True})
    assert [t.title for t in await store.tasks.ready()] == ["build"]
    await store.tasks.remove_dependency(test.id, build.id)
    assert {t.title for t in await store.tasks.ready()} == {"build", "test"}


async def test_cancel_cancels_active_runs_and_agent_runs(store: Store) -> None:
    task = await store.tasks.create(title="long job")
    run = await store.runs.start(task.id)
    agent_run = await store.agent_runs.start(run.id, agent_name="Engineer")
    cancelled = await store.tasks.cancel(task.id, actor="alice", reason="obsolete")
    assert cancelled.status is TaskStatus.CANCELLED
    # Every column stays readable after the transaction, including the database-set ones.
    assert cancelled.updated_at >= cancelled.created_at
    assert cancelled.total_runs == 1
    assert (await store.runs.get(run.id)).status is RunStatus.CANCELLED
    agent_runs = await store.agent_runs.list(run.id)
    assert [a.status.value for a in agent_runs] == ["CANCELLED"]
    assert agent_runs[0].id == agent_run.id
    events_before = await _count_events(store, task.id)
    with pytest.raises(InvalidTransition) as info:
        await store.tasks.cancel(task.id)
    assert (info.value.from_status, info.value.to_status) == ("CANCELLED", "CANCELLED")
    with pytest.raises(InvalidTransition):
        await store.runs.start(task.id)
    assert await _count_events(store, task.id) == events_before


async def test_unknown_and_foreign_ids_are_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.tasks.get(uuid.uuid4())
    async with store.transaction() as s:
        other = Task(customer_id=store.customer_id, title="mine")
        s.add(other)
    assert (await store.tasks.get(other.id)).title == "mine"
    with pytest.raises(NotFound):
        await store.tasks.create(title="child", parent_task_id=uuid.uuid4())

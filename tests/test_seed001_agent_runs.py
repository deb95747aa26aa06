"""Seed 001: agent runs recorded per task, without a run, and listed by start time.

Seed 001 has no runs: its ``agent_runs`` hang off the task, and it asks for
"all agent runs for task X ordered by start time". Flightlog records such a
step with ``store.agent_runs.start_for_task`` (``POST /tasks/{id}/agent-runs``):
no run is started, so the task's run statistics, the reporting view and the
dashboard's run counts stay what the runs say, while its cost and tokens still
reach the overview. ``store.agent_runs.list_for_task`` (``GET
/tasks/{id}/agent-runs``) pages a task's agent runs, run or not, by start time.
Both dialects, through the Store, the HTTP API and the typed client.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from api_client import client_of, error_code
from flightlog import Conflict, NotFound, Store, ValidationError
from flightlog.enums import AgentRunStatus, EventType, RunStatus, TaskStatus
from test_client import client_for


async def _statistics(store: Store, task_id: uuid.UUID) -> tuple[object, ...]:
    task = await store.tasks.get(task_id)
    return (
        task.total_runs,
        task.successful_runs,
        task.failed_runs,
        task.success_rate,
        task.avg_duration_seconds,
        task.last_run_at,
    )


async def test_seed001_agent_runs_for_a_task_need_no_run_and_keep_statistics_exact(
    store: Store,
) -> None:
    task = await store.tasks.create(input_prompt="Create a todo application with React")
    before = await _statistics(store, task.id)
    pm = await store.agent_runs.start_for_task(task.id, agent_name="ProductManager")
    assert (pm.task_id, pm.run_id, pm.status) == (task.id, None, AgentRunStatus.STARTED)
    await store.agent_runs.running(pm.id)
    await store.agent_runs.record_usage(pm.id, tokens_in=100, tokens_out=20, cost_usd="0.5")
    done = await store.agent_runs.finish(
        pm.id, output_summary="PRD created successfully", tokens_in=1, cost_usd="0.25"
    )
    assert done.status is AgentRunStatus.COMPLETED
    assert (done.tokens_in, done.tokens_out, done.cost_usd) == (101, 20, Decimal("0.75"))
    assert done.finished_at is not None

    # No run was made, so nothing a run counts changed: the task, the view, the overview.
    assert await store.runs.list(task.id) == []
    assert await _statistics(store, task.id) == before
    assert (await store.tasks.get(task.id)).status is TaskStatus.PENDING
    summary = await store.views.task_execution_summary(task.id)
    assert (summary.total_executions, summary.active_executions) == (0, 0)
    overview = await store.views.overview()
    assert overview.runs_by_status == {}
    assert (overview.tokens, overview.cost_usd) == (121, Decimal("0.75"))
    [load] = overview.busiest_agents
    assert (load.agent_name, load.agent_runs, load.completed) == ("ProductManager", 1, 1)

    # A real run beside it: its totals are its own agent runs', the overview adds both.
    run = await store.runs.start(task.id)
    engineer = await store.agent_runs.start(run.id, agent_name="Engineer")
    await store.agent_runs.finish(engineer.id, tokens_in=5, tokens_out=5, cost_usd="1")
    finished = await store.runs.finish(run.id)
    assert (finished.tokens_in, finished.tokens_out, finished.cost_usd) == (5, 5, Decimal(1))
    task_now = await store.tasks.get(task.id)
    assert (task_now.total_runs, task_now.successful_runs, task_now.success_rate) == (1, 1, 100)
    overview = await store.views.overview()
    assert overview.runs_by_status == {RunStatus.COMPLETED.value: 1}
    assert (overview.tokens, overview.cost_usd) == (131, Decimal("1.75"))

    page = await store.events.list(task_id=task.id, limit=100)
    steps = [(e.event_type, e.agent_role, e.run_id) for e in page.items if e.agent_run_id == pm.id]
    assert steps == [
        (EventType.AGENT_START, "ProductManager", None),
        (EventType.STATUS_CHANGE, None, None),
        (EventType.AGENT_COMPLETE, "ProductManager", None),
    ]


async def test_seed001_a_task_agent_run_is_refused_clearly_and_writes_nothing(
    store: Store, other: Store
) -> None:
    task = await store.tasks.create(title="seed 001")
    run = await store.runs.start(task.id)
    in_run = await store.agent_runs.start(run.id, agent_name="Architect")
    outer = await store.agent_runs.start_for_task(task.id, agent_name="Lead")
    nested = await store.agent_runs.start_for_task(task.id, agent_name="Sub", parent_id=outer.id)
    assert nested.parent_id == outer.id

    with pytest.raises(ValidationError, match="agent_name"):
        await store.agent_runs.start_for_task(task.id, agent_name="  ")
    with pytest.raises(ValidationError, match="same task"):
        await store.agent_runs.start_for_task(task.id, agent_name="X", parent_id=in_run.id)
    elsewhere = await store.tasks.create(title="another task")
    with pytest.raises(ValidationError, match="same task"):
        await store.agent_runs.start_for_task(elsewhere.id, agent_name="X", parent_id=outer.id)
    with pytest.raises(ValidationError, match="same run"):
        await store.agent_runs.start(run.id, agent_name="X", parent_id=outer.id)
    with pytest.raises(ValidationError, match="timezone"):
        await store.agent_runs.start_for_task(
            task.id, agent_name="X", started_at=datetime(2026, 1, 1)
        )
    # Another tenant's task, or a step of theirs as parent, is simply not there.
    with pytest.raises(NotFound):
        await other.agent_runs.start_for_task(task.id, agent_name="X")
    theirs = await other.tasks.create(title="theirs")
    with pytest.raises(NotFound):
        await other.agent_runs.start_for_task(theirs.id, agent_name="X", parent_id=outer.id)
    with pytest.raises(NotFound):
        await other.agent_runs.finish(outer.id)
    page = await store.agent_runs.list_for_task(task.id, total=True)
    assert page.total == 3
    assert (await store.agent_runs.list_for_task(elsewhere.id, total=True)).total == 0


async def test_seed001_cancelling_a_task_cancels_its_unfinished_task_agent_runs(
    store: Store,
) -> None:
    task = await store.tasks.create(title="to cancel")
    open_step = await store.agent_runs.start_for_task(task.id, agent_name="ProductManager")
    done_step = await store.agent_runs.start_for_task(task.id, agent_name="Architect")
    await store.agent_runs.finish(done_step.id)
    await store.tasks.cancel(task.id, reason="not needed")
    page = await store.agent_runs.list_for_task(task.id)
    statuses = {a.id: a.status for a in page.items}
    assert statuses == {
        open_step.id: AgentRunStatus.CANCELLED,
        done_step.id: AgentRunStatus.COMPLETED,
    }
    assert (await store.tasks.get(task.id)).total_runs == 0
    with pytest.raises(Conflict, match="CANCELLED"):
        await store.agent_runs.start_for_task(task.id, agent_name="late")
    assert (await store.agent_runs.list_for_task(task.id, total=True)).total == 2


async def test_seed001_agent_runs_for_a_task_by_start_time_page_both_ways(store: Store) -> None:
    task = await store.tasks.create(title="ordered")
    run = await store.runs.start(task.id, started_at=datetime(2026, 1, 1, tzinfo=UTC))
    base = datetime(2026, 1, 2, tzinfo=UTC)
    # Created in one order, started (as the callers measured) in another; one tie.
    offsets = [4, 0, 2, 2, 1]
    made = []
    for i, minutes in enumerate(offsets):
        at = base + timedelta(minutes=minutes)
        if i % 2:
            step = await store.agent_runs.start(run.id, agent_name=f"a{i}", started_at=at)
        else:
            step = await store.agent_runs.start_for_task(task.id, agent_name=f"a{i}", started_at=at)
        made.append(step)
    expected = [a.id for a in sorted(made, key=lambda a: (a.started_at, a.id))]

    everything = await store.agent_runs.list_for_task(task.id, limit=500, total=True)
    assert [a.id for a in everything.items] == expected
    assert (everything.total, everything.offset, everything.next_cursor) == (5, 0, None)

    first = await store.agent_runs.list_for_task(task.id, limit=2, total=True)
    assert [a.id for a in first.items] == expected[:2]
    assert first.previous_cursor is None
    assert first.next_cursor == expected[1]
    second = await store.agent_runs.list_for_task(
        task.id, limit=2, cursor=first.next_cursor, total=True
    )
    assert [a.id for a in second.items] == expected[2:4]
    assert (second.offset, second.total, second.previous_cursor) == (2, 5, expected[2])
    third = await store.agent_runs.list_for_task(task.id, limit=2, cursor=second.next_cursor)
    assert [a.id for a in third.items] == expected[4:]
    assert third.next_cursor is None
    back = await store.agent_runs.list_for_task(task.id, limit=2, before=third.previous_cursor)
    assert [a.id for a in back.items] == expected[2:4]
    assert back.next_cursor == expected[3]
    assert back.previous_cursor == expected[2]
    start = await store.agent_runs.list_for_task(task.id, limit=2, before=back.previous_cursor)
    assert [a.id for a in start.items] == expected[:2]
    assert start.previous_cursor is None

    other_task = await store.tasks.create(title="other")
    stranger = await store.agent_runs.start_for_task(other_task.id, agent_name="x")
    for bad in (uuid.uuid4(), stranger.id):
        with pytest.raises(ValidationError, match="none of this task's agent runs"):
            await store.agent_runs.list_for_task(task.id, cursor=bad)
    with pytest.raises(ValidationError, match="cursor"):
        await store.agent_runs.list_for_task(task.id, cursor=expected[0], before=expected[1])
    for limit in (0, 501):
        with pytest.raises(ValidationError, match="limit"):
            await store.agent_runs.list_for_task(task.id, limit=limit)


async def test_seed001_task_agent_runs_over_http_and_the_typed_client(
    store: Store, other: Store
) -> None:
    task = await store.tasks.create(title="over http")
    async with client_for(store) as fl:
        step = await fl.agent_runs.start_for_task(
            task.id, agent_name="ProductManager", details={"phase": "prd"}
        )
        assert step.run_id is None
        assert step.task_id == task.id
        await fl.agent_runs.finish(step.id, output_summary="PRD", tokens_in=3, cost_usd="0.1")
        later = await fl.agent_runs.start_for_task(task.id, agent_name="Architect")
        page = await fl.agent_runs.list_for_task(task.id, limit=1, total=True)
        assert [a.id for a in page.items] == [step.id]
        assert (page.total, page.offset, page.next_cursor) == (2, 0, step.id)
        rest = await fl.agent_runs.list_for_task(task.id, cursor=page.next_cursor)
        assert [a.id for a in rest.items] == [later.id]
        with pytest.raises(ValidationError):
            await fl.agent_runs.list_for_task(task.id, limit=0)
    theirs = await other.tasks.create(title="theirs")
    async with client_of(store) as api:
        made = await api.post(f"/tasks/{task.id}/agent-runs", json={"agent_name": "Engineer"})
        assert made.status_code == 201, made.text
        assert made.json()["run_id"] is None
        listed = await api.get(f"/tasks/{task.id}/agent-runs", params={"total": "true"})
        assert listed.status_code == 200
        assert [a["agent_name"] for a in listed.json()["items"]] == [
            "ProductManager",
            "Architect",
            "Engineer",
        ]
        for path in (f"/tasks/{theirs.id}/agent-runs", f"/tasks/{uuid.uuid4()}/agent-runs"):
            assert error_code(await api.get(path), 404) == "not_found"
            refused = await api.post(path, json={"agent_name": "x"})
            assert error_code(refused, 404) == "not_found"
        blank = await api.post(f"/tasks/{task.id}/agent-runs", json={"agent_name": ""})
        assert error_code(blank, 422) == "validation_error"
        bad_cursor = await api.get(f"/tasks/{task.id}/agent-runs", params={"cursor": "nope"})
        assert error_code(bad_cursor, 422) == "validation_error"
    assert (await store.agent_runs.list_for_task(task.id, total=True)).total == 3
    assert (await other.agent_runs.list_for_task(theirs.id, total=True)).total == 0

"""Queued runs (seed 004's 'queued' execution status): enqueue, begin, claim, cancel."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from flightlog import Conflict, InvalidTransition, RunStatus, TaskStatus, ValidationError
from flightlog.enums import ApprovalStatus
from flightlog.models import Event, Task, TaskRun
from flightlog.services._common import utc_now
from flightlog.store import Store


async def _rows(store: Store, task_id: uuid.UUID) -> tuple[int, int]:
    """How many runs and events the task has: what a refused call must leave unchanged."""
    async with store.reader() as s:
        runs = await s.scalar(select(func.count(TaskRun.id)).where(TaskRun.task_id == task_id))
        events = await s.scalar(select(func.count(Event.id)).where(Event.task_id == task_id))
    return int(runs or 0), int(events or 0)


async def test_a_queued_run_waits_with_its_number_and_input_until_begun(store: Store) -> None:
    task = await store.tasks.create(title="nightly build")
    queued = await store.runs.enqueue(
        task.id, input_context={"branch": "main"}, agent_type="engineer", git_branch="main"
    )
    assert (queued.status, queued.run_number, queued.started_at) == (RunStatus.PENDING, 1, None)
    assert queued.input_context == {"branch": "main"}
    waiting = await store.tasks.get(task.id)
    assert (waiting.status, waiting.total_runs) == (TaskStatus.PENDING, 1)
    page = await store.events.list(run_id=queued.id)
    assert [(e.data or {}).get("to") for e in page.items] == ["PENDING"]

    begun = await store.runs.begin(queued.id, actor="worker-1")
    assert begun.id == queued.id
    assert begun.status is RunStatus.RUNNING
    assert begun.started_at is not None
    assert (await store.tasks.get(task.id)).status is TaskStatus.RUNNING
    done = await store.runs.finish(queued.id, results={"ok": True})
    assert done.duration_seconds is not None
    finished = await store.tasks.get(task.id)
    assert (finished.status, finished.successful_runs) == (TaskStatus.COMPLETED, 1)


async def test_queueing_a_finished_task_makes_it_wait_again(store: Store) -> None:
    task = await store.tasks.create(title="rerun me")
    first = await store.runs.start(task.id)
    await store.runs.finish(first.id, status="failed", error_message="flaky")
    assert (await store.tasks.get(task.id)).status is TaskStatus.FAILED
    second = await store.runs.enqueue(task.id)
    assert second.run_number == 2
    assert (await store.tasks.get(task.id)).status is TaskStatus.PENDING


async def test_refused_enqueues_and_starts_write_nothing(store: Store) -> None:
    task = await store.tasks.create(title="one at a time")
    queued = await store.runs.enqueue(task.id)
    before = await _rows(store, task.id)
    with pytest.raises(Conflict, match="already queued"):
        await store.runs.enqueue(task.id)
    with pytest.raises(Conflict, match="begin that run") as refused:
        await store.runs.start(task.id)
    assert refused.value.details["run_id"] == str(queued.id)
    with pytest.raises(ValidationError, match="needs a plan"):
        await store.runs.begin(queued.id, await_plan_approval=True)
    assert await _rows(store, task.id) == before
    assert (await store.tasks.get(task.id)).status is TaskStatus.PENDING

    cancelled = await store.tasks.create(title="dropped")
    await store.tasks.cancel(cancelled.id)
    before = await _rows(store, cancelled.id)
    with pytest.raises(InvalidTransition):
        await store.runs.enqueue(cancelled.id)
    assert await _rows(store, cancelled.id) == before


async def test_begin_only_starts_a_queued_run(store: Store) -> None:
    task = await store.tasks.create(title="t")
    running = await store.runs.start(task.id, plan={"steps": ["a"]})
    started_at = running.started_at
    with pytest.raises(Conflict, match="only a queued"):
        await store.runs.begin(running.id, await_plan_approval=True)
    other = await store.tasks.create(title="awaiting a person")
    waiting = await store.runs.start(other.id, plan={"steps": ["b"]}, await_plan_approval=True)
    with pytest.raises(Conflict, match="only a queued"):
        await store.runs.begin(waiting.id)  # must not skip the plan decision
    still = await store.runs.get(waiting.id)
    assert (still.status, still.plan_status) == (RunStatus.WAITING_APPROVAL, ApprovalStatus.PENDING)
    assert (await store.runs.get(running.id)).started_at == started_at


async def test_a_queued_plan_can_wait_for_approval_when_begun(store: Store) -> None:
    task = await store.tasks.create(title="careful")
    queued = await store.runs.enqueue(task.id, plan={"steps": ["migrate"]})
    begun = await store.runs.begin(queued.id, await_plan_approval=True)
    assert (begun.status, begun.plan_status) == (RunStatus.WAITING_APPROVAL, ApprovalStatus.PENDING)
    approved = await store.runs.approve_plan(queued.id, decided_by="carol")
    assert approved.status is RunStatus.RUNNING


async def test_a_worker_claiming_the_task_begins_its_queued_run(store: Store) -> None:
    task = await store.tasks.create(title="for a worker")
    queued = await store.runs.enqueue(task.id, input_context={"seed": 7})
    [claim] = await store.claims.claim("worker-1")
    assert claim.run_id == queued.id
    run = await store.runs.get(queued.id)
    assert (run.status, run.input_context) == (RunStatus.RUNNING, {"seed": 7})
    assert [r.id for r in await store.runs.list(task.id)] == [queued.id]


async def test_finishing_a_run_with_another_queued_leaves_the_task_waiting(store: Store) -> None:
    task = await store.tasks.create(title="back to back")
    current = await store.runs.start(task.id)
    nxt = await store.runs.enqueue(task.id)
    assert (await store.tasks.get(task.id)).status is TaskStatus.RUNNING
    await store.runs.finish(current.id)
    after = await store.tasks.get(task.id)
    assert (after.status, after.successful_runs, after.total_runs) == (TaskStatus.PENDING, 1, 2)
    [claim] = await store.claims.claim("worker-2")
    assert claim.run_id == nxt.id


async def test_an_expired_lease_keeps_the_queued_run_for_the_next_worker(store: Store) -> None:
    task = await store.tasks.create(title="lost worker")
    [first] = await store.claims.claim("worker-1")
    nxt = await store.runs.enqueue(task.id)
    async with store.transaction() as s:
        await s.execute(
            update(Task)
            .where(Task.id == task.id)
            .values(lease_expires_at=utc_now() - timedelta(seconds=1))
        )
    [second] = await store.claims.claim("worker-2")
    assert second.run_id == nxt.id
    assert (await store.runs.get(first.run_id)).status is RunStatus.TIMEOUT
    assert (await store.runs.get(nxt.id)).status is RunStatus.RUNNING


async def test_cancelling_the_task_cancels_its_queued_run(store: Store) -> None:
    task = await store.tasks.create(title="never mind")
    queued = await store.runs.enqueue(task.id)
    await store.tasks.cancel(task.id)
    assert (await store.runs.get(queued.id)).status is RunStatus.CANCELLED
    task2 = await store.tasks.create(title="drop just the run")
    queued2 = await store.runs.enqueue(task2.id)
    await store.runs.cancel(queued2.id)
    assert (await store.tasks.get(task2.id)).status is TaskStatus.PENDING
    assert (await store.runs.start(task2.id)).run_number == 2

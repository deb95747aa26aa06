"""Runs: numbering, plan approval, finishing, statistics and agent runs, on both dialects."""

from __future__ import annotations

import inspect
import random
import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import case, func, select, text

from concurrency import run_in_threads
from flightlog import Conflict, InvalidTransition, RunStatus, TaskStatus, ValidationError
from flightlog.db.urls import DatabaseUrl
from flightlog.enums import AgentRunStatus, ApprovalStatus
from flightlog.migrations.runner import Migrator
from flightlog.models import Task, TaskRun
from flightlog.services import runs as run_service
from flightlog.settings import Settings
from flightlog.store import Store, open_store


async def test_run_numbers_count_up_per_task(store: Store) -> None:
    a = await store.tasks.create(title="a")
    b = await store.tasks.create(title="b")
    first = await store.runs.start(a.id)
    await store.runs.finish(first.id)
    second = await store.runs.start(a.id)
    other = await store.runs.start(b.id)
    assert (first.run_number, second.run_number, other.run_number) == (1, 2, 1)
    assert first.started_at is not None
    assert first.status is RunStatus.RUNNING
    assert [r.run_number for r in await store.runs.list(a.id)] == [1, 2]


async def test_finish_records_results_duration_and_task_outcome(store: Store) -> None:
    task = await store.tasks.create(title="report")
    run = await store.runs.start(task.id, input_context={"files": ["a.py"]}, git_branch="f/x")
    done = await store.runs.finish(
        run.id, results={"summary": "ok"}, memory_usage_mb=512, cpu_time_ms=1200, git_commit="abc1"
    )
    assert done.status is RunStatus.COMPLETED
    assert done.results == {"summary": "ok"}
    assert done.completed_at is not None
    assert done.started_at is not None
    assert done.duration_seconds == pytest.approx(
        (done.completed_at - done.started_at).total_seconds()
    )
    loaded = await store.tasks.get(task.id)
    assert loaded.status is TaskStatus.COMPLETED
    assert (loaded.total_runs, loaded.successful_runs, loaded.failed_runs) == (1, 1, 0)
    assert loaded.success_rate == 100.0
    assert loaded.last_run_at == done.started_at


async def test_failure_needs_error_details_and_counts_as_failure(store: Store) -> None:
    task = await store.tasks.create(title="flaky")
    run = await store.runs.start(task.id)
    with pytest.raises(ValidationError, match="error"):
        await store.runs.finish(run.id, status=RunStatus.FAILED)
    assert (await store.runs.get(run.id)).status is RunStatus.RUNNING
    failed = await store.runs.fail(run.id, error_message="boom", error_details={"trace": "x"})
    assert failed.error_details == {"trace": "x"}
    assert (await store.tasks.get(task.id)).status is TaskStatus.FAILED
    retry = await store.runs.start(task.id)
    await store.runs.timeout(retry.id)
    third = await store.runs.start(task.id)
    await store.runs.finish(third.id)
    stats = await store.tasks.get(task.id)
    assert (stats.total_runs, stats.successful_runs, stats.failed_runs) == (3, 1, 2)
    assert stats.success_rate == pytest.approx(100 / 3, rel=1e-3)


async def test_cancelled_run_returns_task_to_pending(store: Store) -> None:
    task = await store.tasks.create(title="x")
    run = await store.runs.start(task.id)
    await store.runs.cancel(run.id)
    loaded = await store.tasks.get(task.id)
    assert loaded.status is TaskStatus.PENDING
    assert (loaded.total_runs, loaded.successful_runs, loaded.failed_runs) == (1, 0, 0)
    assert loaded.success_rate == 0.0


async def test_finished_run_cannot_change_again(store: Store) -> None:
    task = await store.tasks.create(title="x")
    run = await store.runs.start(task.id)
    await store.runs.finish(run.id)
    with pytest.raises(InvalidTransition) as info:
        await store.runs.fail(run.id, error_message="late")
    assert (info.value.from_status, info.value.to_status) == ("COMPLETED", "FAILED")
    assert (await store.runs.get(run.id)).error_message is None


async def test_plan_approval_lets_the_run_proceed(store: Store) -> None:
    task = await store.tasks.create(title="refactor")
    run = await store.runs.start(task.id, plan={"steps": ["a", "b"]}, await_plan_approval=True)
    assert run.status is RunStatus.WAITING_APPROVAL
    assert run.plan_status is ApprovalStatus.PENDING
    with pytest.raises(InvalidTransition):
        await store.runs.finish(run.id)  # cannot complete before the plan is approved
    unplanned = await store.runs.start((await store.tasks.create(title="y")).id)
    with pytest.raises(Conflict):
        await store.runs.approve_plan(unplanned.id, decided_by="alice")
    approved = await store.runs.approve_plan(run.id, decided_by="alice", comment="looks right")
    assert approved.status is RunStatus.RUNNING
    assert approved.plan_status is ApprovalStatus.APPROVED
    assert approved.plan_decided_by == "alice"
    assert approved.plan_comment == "looks right"
    assert approved.plan_decided_at is not None
    page = await store.events.list(run_id=run.id)
    decision = [e for e in page.items if e.data and e.data.get("plan_decision")]
    assert decision[0].actor == "alice"
    done = await store.runs.finish(run.id)
    assert done.status is RunStatus.COMPLETED


async def test_decide_plan_is_the_one_verb_and_approve_reject_are_its_shortcuts(
    store: Store,
) -> None:
    task = await store.tasks.create(title="decided")
    first = await store.runs.start(task.id, plan={"steps": ["a"]}, await_plan_approval=True)
    approved = await store.runs.decide_plan(first.id, approve=True, decided_by="alice")
    assert (approved.status, approved.plan_status) == (RunStatus.RUNNING, ApprovalStatus.APPROVED)
    second = await store.runs.start(task.id, plan={"steps": ["b"]}, await_plan_approval=True)
    rejected = await store.runs.decide_plan(
        second.id, approve=False, decided_by="bob", comment="no"
    )
    assert (rejected.status, rejected.plan_status) == (RunStatus.CANCELLED, ApprovalStatus.REJECTED)
    with pytest.raises(ValidationError, match="decided_by"):
        await store.runs.decide_plan(first.id, approve=True, decided_by=" ")


@pytest.mark.parametrize(
    "shortcut", [run_service.fail_run, run_service.timeout_run, run_service.cancel_run]
)
def test_the_finishing_shortcuts_take_what_finish_takes_but_the_status(shortcut: Any) -> None:
    """fail, timeout and cancel forward to finish_run: a parameter added there belongs here too."""
    finish = inspect.signature(run_service.finish_run).parameters
    mine = inspect.signature(shortcut).parameters
    assert set(mine) == set(finish) - {"status"}
    assert all(mine[name].kind is finish[name].kind for name in mine)


async def test_rejected_plan_ends_the_run(store: Store) -> None:
    task = await store.tasks.create(title="risky")
    run = await store.runs.start(task.id)
    waiting = await store.runs.submit_plan(run.id, {"steps": ["drop table"]})
    assert waiting.status is RunStatus.WAITING_APPROVAL
    rejected = await store.runs.reject_plan(run.id, decided_by="bob", comment="too risky")
    assert rejected.status is RunStatus.CANCELLED
    assert rejected.plan_status is ApprovalStatus.REJECTED
    assert rejected.plan_comment == "too risky"
    assert rejected.completed_at is not None
    with pytest.raises(Conflict):
        await store.runs.approve_plan(run.id, decided_by="bob")
    with pytest.raises(ValidationError):
        await store.runs.start(task.id, await_plan_approval=True)


async def test_agent_runs_nest_and_sum_into_the_run(store: Store) -> None:
    task = await store.tasks.create(title="team")
    run = await store.runs.start(task.id)
    leader = await store.agent_runs.start(run.id, agent_name="TeamLeader")
    engineer = await store.agent_runs.start(run.id, agent_name="Engineer", parent_id=leader.id)
    await store.agent_runs.running(engineer.id)
    await store.agent_runs.record_usage(engineer.id, tokens_in=100, tokens_out=40, cost_usd="0.5")
    await store.agent_runs.finish(
        engineer.id, output_summary="code written", tokens_in=50, tokens_out=10, cost_usd=0.25
    )
    await store.agent_runs.finish(leader.id, tokens_in=7, tokens_out=3, cost_usd=Decimal("0.01"))
    totals = await store.runs.get(run.id)
    assert (totals.tokens_in, totals.tokens_out) == (157, 53)
    assert totals.cost_usd == Decimal("0.76")
    listed = await store.agent_runs.list(run.id)
    assert [a.agent_name for a in listed] == ["TeamLeader", "Engineer"]
    assert listed[1].parent_id == leader.id
    assert listed[1].status is AgentRunStatus.COMPLETED
    assert listed[1].duration_seconds is not None
    roles = [e.agent_role for e in (await store.events.list(run_id=run.id)).items if e.agent_role]
    assert roles == ["TeamLeader", "Engineer", "Engineer", "TeamLeader"]
    with pytest.raises(ValidationError):
        await store.agent_runs.finish(leader.id, cost_usd=-1)
    other_run = await store.runs.start((await store.tasks.create(title="z")).id)
    with pytest.raises(ValidationError, match="same run"):
        await store.agent_runs.start(other_run.id, agent_name="QA", parent_id=leader.id)
    await store.runs.finish(run.id)
    with pytest.raises(Conflict):
        await store.agent_runs.start(run.id, agent_name="late")


@pytest.fixture
async def committed_task(
    fresh_head_url: DatabaseUrl, test_settings: Settings
) -> tuple[DatabaseUrl, uuid.UUID, uuid.UUID]:
    """A fresh database at head with one task, committed (for multi-connection tests)."""
    url = fresh_head_url.url.render_as_string(hide_password=False)
    async with open_store(url, settings=test_settings, upgrade=False) as store:
        task = await store.tasks.create(title="contended")
        return fresh_head_url, store.customer_id, task.id


def test_32_concurrent_starters_get_gap_free_unique_numbers(
    committed_task: tuple[DatabaseUrl, uuid.UUID, uuid.UUID], test_settings: Settings
) -> None:
    url, customer_id, task_id = committed_task

    async def start(store: Store, _index: int) -> list[int]:
        return [(await store.runs.start(task_id)).run_number for _ in range(3)]

    per_worker = run_in_threads(url, test_settings, customer_id, 32, start)
    numbers = sorted(n for batch in per_worker for n in batch)
    assert numbers == list(range(1, 97))


def test_statistics_stay_exact_under_concurrent_finishing(
    committed_task: tuple[DatabaseUrl, uuid.UUID, uuid.UUID], test_settings: Settings
) -> None:
    url, customer_id, task_id = committed_task
    outcomes = [RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.TIMEOUT, RunStatus.CANCELLED]
    rng = random.Random(7)
    plan = [rng.choice(outcomes) for _ in range(32)]

    async def start(store: Store, _index: int) -> uuid.UUID:
        return (await store.runs.start(task_id)).id

    run_ids = run_in_threads(url, test_settings, customer_id, 32, start)

    async def finish(store: Store, index: int) -> RunStatus:
        await store.runs.finish(
            run_ids[index], status=plan[index], error_message="x", memory_usage_mb=index
        )
        return plan[index]

    run_in_threads(url, test_settings, customer_id, 32, finish)

    async def read_back(
        store: Store, _index: int
    ) -> tuple[Task, tuple[object, ...], tuple[object, ...]]:
        async with store.reader() as s:
            task = await s.get(Task, task_id)
            truth = (
                await s.execute(
                    select(
                        func.count(TaskRun.id),
                        func.sum(case((TaskRun.status == "COMPLETED", 1), else_=0)),
                        func.sum(case((TaskRun.status.in_(["FAILED", "TIMEOUT"]), 1), else_=0)),
                        func.avg(TaskRun.duration_seconds),
                    ).where(TaskRun.task_id == task_id)
                )
            ).one()
            key = task_id.hex if s.get_bind().dialect.name == "sqlite" else task_id
            view = (
                await s.execute(
                    text(
                        "SELECT total_executions, successful_executions, failed_executions "
                        "FROM task_execution_summary WHERE task_id = :t"
                    ),
                    {"t": key},
                )
            ).one()
            assert task is not None
            return task, tuple(truth), tuple(view)

    [(task, truth, view)] = run_in_threads(url, test_settings, customer_id, 1, read_back)
    ok = plan.count(RunStatus.COMPLETED)
    bad = plan.count(RunStatus.FAILED) + plan.count(RunStatus.TIMEOUT)
    assert (task.total_runs, task.successful_runs, task.failed_runs) == (32, ok, bad)
    assert (truth[0], truth[1], truth[2]) == (32, ok, bad)
    assert (view[0], view[1], view[2]) == (32, ok, bad)
    assert task.success_rate == pytest.approx(100.0 * ok / (ok + bad), rel=1e-6)
    assert task.avg_duration_seconds == pytest.approx(float(truth[3]), rel=1e-6)


async def test_cancelling_a_run_cancels_and_logs_its_agent_runs(store: Store) -> None:
    task = await store.tasks.create(title="stop")
    run = await store.runs.start(task.id)
    working = await store.agent_runs.start(run.id, agent_name="Engineer")
    await store.runs.cancel(run.id)
    [cancelled] = await store.agent_runs.list(run.id)
    assert cancelled.id == working.id
    assert cancelled.status is AgentRunStatus.CANCELLED
    assert cancelled.duration_seconds is not None
    page = await store.events.list(run_id=run.id)
    logged = [e for e in page.items if e.entity_type == "AgentRun"]
    assert [e.data["to"] for e in logged if e.data] == ["CANCELLED"]


async def test_open_store_without_upgrade_refuses_an_old_schema(
    fresh_url: DatabaseUrl, test_settings: Settings
) -> None:
    from flightlog import MigrationError

    Migrator(test_settings, fresh_url).upgrade("0001")
    url = fresh_url.url.render_as_string(hide_password=False)
    with pytest.raises(MigrationError, match="flightlog db upgrade"):
        async with open_store(url, settings=test_settings, upgrade=False):
            pass


async def test_usage_that_would_overflow_a_total_is_refused_by_name_and_adds_nothing(
    store: Store,
) -> None:
    """Totals live in NUMERIC(14, 6) and INTEGER columns: past them is a clear 422, not the
    database's overflow error, and neither the agent run nor its run changes."""
    task = await store.tasks.create(title="expensive")
    run = await store.runs.start(task.id)
    first = await store.agent_runs.start(run.id, agent_name="A")
    second = await store.agent_runs.start(run.id, agent_name="B")
    await store.agent_runs.record_usage(first.id, tokens_in=2**31 - 10, cost_usd="99999999")
    with pytest.raises(ValidationError, match="total cost_usd would reach") as refused:
        await store.agent_runs.record_usage(first.id, cost_usd="1")
    assert refused.value.details["field"] == "cost_usd"
    with pytest.raises(ValidationError, match="total tokens_in would pass") as refused:
        await store.agent_runs.record_usage(first.id, tokens_in=10)
    assert refused.value.details["field"] == "tokens_in"
    # Each step is under the limit, but the run's total is not.
    with pytest.raises(ValidationError, match="the run has"):
        await store.agent_runs.record_usage(second.id, tokens_in=10, cost_usd="0.5")
    steps = {a.agent_name: a for a in await store.agent_runs.list(run.id)}
    assert (steps["A"].tokens_in, steps["A"].cost_usd) == (2**31 - 10, Decimal("99999999"))
    assert (steps["B"].tokens_in, steps["B"].cost_usd) == (0, Decimal(0))
    stored = await store.runs.get(run.id)
    assert (stored.tokens_in, stored.cost_usd) == (2**31 - 10, Decimal("99999999"))

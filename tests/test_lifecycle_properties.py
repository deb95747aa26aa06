"""Property-based tests: the services obey the transition tables, and cycles never form.

Hypothesis generates sequences of status changes (and of dependency edges);
each is applied through the real services on a real database, and compared
with a model computed from the tables alone. A refused change must raise
InvalidTransition (or Conflict) and write nothing: no status change, no event.
"""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from flightlog import Conflict, InvalidTransition, ValidationError
from flightlog.db.urls import DatabaseUrl
from flightlog.enums import AgentRunStatus, RunStatus, TaskStatus
from flightlog.models import Event
from flightlog.services import tasks as task_service
from flightlog.services.lifecycle import (
    AGENT_RUN_LIFECYCLE,
    RUN_LIFECYCLE,
    TASK_LIFECYCLE,
    Lifecycle,
)
from flightlog.settings import Settings
from flightlog.store import Store
from scenario import run_in_rolled_back_store

PROPERTY_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.parametrize("lifecycle", [TASK_LIFECYCLE, RUN_LIFECYCLE, AGENT_RUN_LIFECYCLE])
def test_tables_are_total_and_terminal_states_are_final(lifecycle: Lifecycle) -> None:  # type: ignore[type-arg]
    statuses = set(type(next(iter(lifecycle.transitions))))
    assert set(lifecycle.transitions) == statuses
    for source, targets in lifecycle.transitions.items():
        assert targets <= statuses
        assert source not in targets
        for target in statuses:
            if target in targets:
                lifecycle.check(source, target)
            else:
                with pytest.raises(InvalidTransition) as info:
                    lifecycle.check(source, target)
                assert info.value.from_status == source.value
                assert info.value.to_status == target.value


async def _events(store: Store, task_id: uuid.UUID) -> int:
    async with store.reader() as s:
        return int(await s.scalar(select(func.count()).where(Event.task_id == task_id)) or 0)


@PROPERTY_SETTINGS
@given(targets=st.lists(st.sampled_from(list(TaskStatus)), max_size=8))
def test_task_service_follows_its_table(
    db_url: DatabaseUrl, test_settings: Settings, targets: list[TaskStatus]
) -> None:
    async def scenario(store: Store) -> None:
        task = await store.tasks.create(title="prop")
        expected = TaskStatus.PENDING
        for target in targets:
            before = await _events(store, task.id)
            async with store.transaction() as s:
                loaded = await s.run_sync(task_service.get_task, store.customer_id, task.id)
                if TASK_LIFECYCLE.allowed(expected, target):
                    await s.run_sync(task_service.transition_task, loaded, target)
                    expected = target
                    written = 1
                else:
                    with pytest.raises(InvalidTransition):
                        await s.run_sync(task_service.transition_task, loaded, target)
                    written = 0
            assert (await store.tasks.get(task.id)).status is expected
            assert await _events(store, task.id) == before + written

    run_in_rolled_back_store(db_url, test_settings, scenario)


RUN_ACTIONS = [
    "submit_plan",
    "approve",
    "reject",
    *[
        s.value
        for s in RunStatus
        if s not in (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.WAITING_APPROVAL)
    ],
]


def _expected_run(current: RunStatus, action: str) -> RunStatus | None:
    """The status the action leads to per the table, or None when it must be refused."""
    if action == "submit_plan":
        target = RunStatus.WAITING_APPROVAL
    elif action in ("approve", "reject"):
        if current is not RunStatus.WAITING_APPROVAL:
            return None
        target = RunStatus.RUNNING if action == "approve" else RunStatus.CANCELLED
    else:
        target = RunStatus(action)
    return target if RUN_LIFECYCLE.allowed(current, target) else None


@PROPERTY_SETTINGS
@given(
    start_waiting=st.booleans(),
    actions=st.lists(st.sampled_from(RUN_ACTIONS), max_size=6),
)
def test_run_services_follow_the_table(
    db_url: DatabaseUrl, test_settings: Settings, start_waiting: bool, actions: list[str]
) -> None:
    async def apply(store: Store, run_id: uuid.UUID, action: str) -> None:
        if action == "submit_plan":
            await store.runs.submit_plan(run_id, {"steps": ["a"]})
        elif action == "approve":
            await store.runs.approve_plan(run_id, decided_by="alice")
        elif action == "reject":
            await store.runs.reject_plan(run_id, decided_by="bob", comment="no")
        else:
            await store.runs.finish(run_id, status=RunStatus(action), error_message="boom")

    async def scenario(store: Store) -> None:
        task = await store.tasks.create(title="prop-run")
        run = await store.runs.start(
            task.id,
            plan={"steps": []} if start_waiting else None,
            await_plan_approval=start_waiting,
        )
        current = run.status
        for action in actions:
            before = await _events(store, task.id)
            expected = _expected_run(current, action)
            if expected is None:
                with pytest.raises((InvalidTransition, Conflict)):
                    await apply(store, run.id, action)
                assert (await store.runs.get(run.id)).status is current
                assert await _events(store, task.id) == before
            else:
                await apply(store, run.id, action)
                current = expected
                assert (await store.runs.get(run.id)).status is current
                assert await _events(store, task.id) > before

    run_in_rolled_back_store(db_url, test_settings, scenario)


@PROPERTY_SETTINGS
@given(
    targets=st.lists(
        st.sampled_from([s for s in AgentRunStatus if s is not AgentRunStatus.STARTED]),
        max_size=5,
    )
)
def test_agent_run_services_follow_the_table(
    db_url: DatabaseUrl, test_settings: Settings, targets: list[AgentRunStatus]
) -> None:
    async def scenario(store: Store) -> None:
        task = await store.tasks.create(title="prop-agent")
        run = await store.runs.start(task.id)
        agent_run = await store.agent_runs.start(run.id, agent_name="QA")
        current = AgentRunStatus.STARTED
        for target in targets:
            allowed = AGENT_RUN_LIFECYCLE.allowed(current, target)
            if target is AgentRunStatus.RUNNING:
                call = store.agent_runs.running(agent_run.id)
            else:
                call = store.agent_runs.finish(agent_run.id, status=target, tokens_in=1)
            if allowed:
                await call
                current = target
            else:
                with pytest.raises(InvalidTransition):
                    await call
            listed = await store.agent_runs.list(run.id)
            assert listed[0].status is current

    run_in_rolled_back_store(db_url, test_settings, scenario)


def _reaches(edges: set[tuple[int, int]], start: int, goal: int) -> bool:
    frontier, seen = [start], set()
    while frontier:
        node = frontier.pop()
        if node == goal:
            return True
        if node in seen:
            continue
        seen.add(node)
        frontier.extend(b for a, b in edges if a == node)
    return False


@PROPERTY_SETTINGS
@given(attempts=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=15))
def test_dependency_cycles_of_any_length_are_refused(
    db_url: DatabaseUrl, test_settings: Settings, attempts: list[tuple[int, int]]
) -> None:
    async def scenario(store: Store) -> None:
        nodes = [await store.tasks.create(title=f"n{i}") for i in range(6)]
        edges: set[tuple[int, int]] = set()
        for a, b in attempts:
            if a == b or _reaches(edges, b, a):
                with pytest.raises(ValidationError):
                    await store.tasks.add_dependency(nodes[a].id, nodes[b].id)
            elif (a, b) in edges:
                with pytest.raises(Conflict):
                    await store.tasks.add_dependency(nodes[a].id, nodes[b].id)
            else:
                await store.tasks.add_dependency(nodes[a].id, nodes[b].id)
                edges.add((a, b))
        for i, node in enumerate(nodes):
            stored = {t.id for t in await store.tasks.dependencies(node.id)}
            assert stored == {nodes[b].id for a, b in edges if a == i}
        # The stored graph is acyclic: no node reaches itself through one or more edges.
        for a, b in edges:
            assert not _reaches(edges, b, a)

    run_in_rolled_back_store(db_url, test_settings, scenario)

"""The task list sorts, filters and pages both ways with totals, alike on both databases (issue 14).

The dashboard's task list is ``store.tasks.list``: each order is checked against
the same order computed here in Python, paging forward and then back must give
the very pages read forward, and the counts must say where a page lies. Times
are set on the rows (a test's Store runs inside one transaction, whose clock
stands still on PostgreSQL) so the time filters and the ``updated`` order have
something to tell apart.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from flightlog import NotFound, ValidationError
from flightlog.enums import TaskStatus
from flightlog.models import Task
from flightlog.services.task_list import STATUS_ORDER, TaskSort
from flightlog.services.tasks import TaskPage
from flightlog.store import Store
from test_client import client_for

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
TITLES = ["delta", "Alpha", "charlie", "Bravo", "echo", "alpha", "Foxtrot", "golf", "Hotel"]
STATUSES = [TaskStatus.COMPLETED, TaskStatus.PENDING, TaskStatus.FAILED, TaskStatus.CANCELLED]


async def _set_times(
    store: Store, task_id: uuid.UUID, created: datetime, updated: datetime
) -> None:
    async with store.transaction() as session:
        await session.execute(
            update(Task).where(Task.id == task_id).values(created_at=created, updated_at=updated)
        )


async def _seed(store: Store) -> list[Task]:
    """Nine tasks with titles in mixed case, repeated priorities and statuses, distinct times."""
    made = []
    for i, title in enumerate(TITLES):
        task = await store.tasks.create(
            title=title, priority=i % 3, tags=["even" if i % 2 else "odd"]
        )
        made.append(task.id)
    async with store.transaction() as session:
        for i, task_id in enumerate(made):
            status = STATUSES[i % len(STATUSES)]
            await session.execute(update(Task).where(Task.id == task_id).values(status=status))
    for i, task_id in enumerate(made):
        # Created in order an hour apart; updated in the reverse order.
        await _set_times(store, task_id, T0 + timedelta(hours=i), T0 + timedelta(days=2, hours=-i))
    return [await store.tasks.get(task_id) for task_id in made]


def _expected(tasks: list[Task], sort: str, descending: bool) -> list[uuid.UUID]:
    keys: dict[str, Any] = {
        "created": lambda t: (t.id,),
        "updated": lambda t: (t.updated_at, t.id),
        "title": lambda t: (t.title.lower(), t.id),
        "status": lambda t: (STATUS_ORDER.index(t.status), t.id),
        "priority": lambda t: (t.priority, t.id),
    }
    return [t.id for t in sorted(tasks, key=keys[sort], reverse=descending)]


@pytest.mark.parametrize("sort", ["created", "updated", "title", "status", "priority"])
@pytest.mark.parametrize("descending", [True, False])
async def test_each_order_pages_forward_and_back_to_the_same_pages(
    store: Store, sort: TaskSort, descending: bool
) -> None:
    tasks = await _seed(store)
    expected = _expected(tasks, sort, descending)
    pages: list[TaskPage] = []
    page = await store.tasks.list(sort=sort, descending=descending, limit=4, total=True)
    while True:
        pages.append(page)
        if page.next_cursor is None:
            break
        page = await store.tasks.list(
            sort=sort,
            descending=descending,
            limit=4,
            cursor=page.next_cursor,
            total=True,
        )
    assert [t.id for p in pages for t in p.items] == expected
    assert [len(p.items) for p in pages] == [4, 4, 1]
    assert [(p.total, p.offset) for p in pages] == [(9, 0), (9, 4), (9, 8)]
    assert pages[0].previous_cursor is None
    # Back from the last page, one page at a time, to the first.
    back = pages[-1]
    for want in reversed(pages[:-1]):
        assert back.previous_cursor is not None
        back = await store.tasks.list(
            sort=sort,
            descending=descending,
            limit=4,
            before=back.previous_cursor,
            total=True,
        )
        assert [t.id for t in back.items] == [t.id for t in want.items]
        assert (back.total, back.offset, back.next_cursor) == (9, want.offset, want.next_cursor)
    assert back.previous_cursor is None


async def test_without_total_nothing_is_counted(store: Store) -> None:
    await _seed(store)
    page = await store.tasks.list(limit=2)
    assert (page.total, page.offset, page.previous_cursor) == (None, None, None)
    assert page.next_cursor == page.items[-1].id


async def test_time_ranges_narrow_by_creation_and_by_last_change(store: Store) -> None:
    tasks = await _seed(store)
    since, until = T0 + timedelta(hours=2), T0 + timedelta(hours=5)
    created = await store.tasks.list(created_since=since, created_until=until, sort="created")
    assert {t.title for t in created.items} == {"charlie", "Bravo", "echo"}  # hours 2, 3, 4
    recent = await store.tasks.list(updated_since=T0 + timedelta(days=2, hours=-1))
    assert {t.title for t in recent.items} == {"delta", "Alpha"}  # updated last
    stale = await store.tasks.list(updated_until=T0 + timedelta(days=2, hours=-6))
    assert {t.title for t in stale.items} == {"golf", "Hotel"}  # Foxtrot, at the bound, is not
    both = await store.tasks.list(
        created_since=since, updated_since=T0 + timedelta(days=1, hours=21)
    )
    assert {t.title for t in both.items} == {"charlie", "Bravo"}
    assert len(tasks) == 9
    with pytest.raises(ValidationError, match="timezone-aware"):
        await store.tasks.list(created_since=datetime(2026, 3, 1, 9, 0))


async def test_the_agent_filter_finds_assigned_run_and_stepped_tasks(
    store: Store, other: Store
) -> None:
    agent = await store.agents.register("builder", "engineer")
    helper = await store.agents.register("helper", "qa")
    assigned = await store.tasks.create(title="assigned", assigned_agent_id=agent.id)
    ran = await store.tasks.create(title="ran")
    await store.runs.start(ran.id, agent_id=agent.id)
    stepped = await store.tasks.create(title="stepped")
    run = await store.runs.start(stepped.id, agent_id=helper.id)
    await store.agent_runs.start(run.id, agent_name="Builder", agent_id=agent.id)
    await store.tasks.create(title="untouched")
    found = await store.tasks.list(agent_id=agent.id, sort="title", descending=False, total=True)
    assert [t.title for t in found.items] == ["assigned", "ran", "stepped"]
    assert found.total == 3
    assert [t.title for t in (await store.tasks.list(agent_id=helper.id)).items] == ["stepped"]
    assert assigned.id in {t.id for t in found.items}
    theirs = await other.agents.register("theirs", "engineer")
    with pytest.raises(NotFound):
        await store.tasks.list(agent_id=theirs.id)


async def test_filters_combine_and_count(store: Store) -> None:
    await _seed(store)
    page = await store.tasks.list(
        tag="odd", min_priority=1, total=True, sort="title", descending=False
    )
    # odd: indexes 0, 2, 4, 6, 8 -> priorities 0, 2, 1, 0, 2
    assert [t.title for t in page.items] == ["charlie", "echo", "Hotel"]
    assert (page.total, page.offset) == (3, 0)
    failed = await store.tasks.list(status=TaskStatus.FAILED, total=True)
    assert {t.title for t in failed.items} == {"charlie", "Foxtrot"}
    assert failed.total == 2


async def test_bad_cursors_and_sorts_are_refused(store: Store, other: Store) -> None:
    tasks = await _seed(store)
    with pytest.raises(ValidationError, match="or before"):
        await store.tasks.list(cursor=tasks[0].id, before=tasks[1].id)
    with pytest.raises(ValidationError, match="sort must be one of"):
        await store.tasks.list(sort="colour")  # type: ignore[arg-type]
    theirs = await other.tasks.create(title="theirs")
    with pytest.raises(ValidationError, match="none of your tasks"):
        await store.tasks.list(sort="title", cursor=theirs.id)
    # Creation order needs no lookup: any id is a place in it.
    assert len((await store.tasks.list(cursor=uuid.uuid4())).items) <= 9


async def test_the_http_api_and_client_take_the_same_parameters(store: Store) -> None:
    tasks = await _seed(store)
    async with client_for(store) as fl:
        first = await fl.tasks.list(sort="title", descending=False, limit=3, total=True)
        assert [t.title for t in first.items] == ["Alpha", "alpha", "Bravo"]
        assert (first.total, first.offset, first.previous_cursor) == (9, 0, None)
        second = await fl.tasks.list(
            sort="title", descending=False, limit=3, cursor=first.next_cursor
        )
        assert [t.title for t in second.items] == ["charlie", "delta", "echo"]
        again = await fl.tasks.list(
            sort="title", descending=False, limit=3, before=second.previous_cursor, total=True
        )
        assert [t.id for t in again.items] == [t.id for t in first.items]
        window = await fl.tasks.list(
            created_since=T0 + timedelta(hours=7), updated_until=T0 + timedelta(days=3)
        )
        assert {t.title for t in window.items} == {"golf", "Hotel"}
        assert len(tasks) == 9

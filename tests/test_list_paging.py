"""The other lists page both ways with totals, like the task list (issue 14, "find things").

For each list, paging forward to the end and then back from there must give
the very pages read forward, the counts must say where each page lies, and
another customer's rows never show up: their id as a cursor is only a
position among the caller's own rows (ids are UUIDv7), or refused.
Everything runs on both databases (the ``store`` fixture).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from flightlog import NotFound, ValidationError
from flightlog.enums import PullRequestStatus
from flightlog.store import Store
from test_client import client_for

Reader = Callable[..., Awaitable[Any]]


async def walk(read: Reader, limit: int) -> tuple[list[Any], list[Any]]:
    """Every page forward from the first, then, in reading order, back from the last."""
    forward: list[Any] = [await read(limit=limit, total=True)]
    while forward[-1].next_cursor is not None:
        forward.append(await read(limit=limit, total=True, cursor=forward[-1].next_cursor))
    back: list[Any] = []
    page = forward[-1]
    while page.previous_cursor is not None:
        page = await read(limit=limit, total=True, before=page.previous_cursor)
        back.append(page)
    return forward, back


def assert_walks_back(forward: list[Any], back: list[Any], expected: list[uuid.UUID]) -> None:
    """The forward pages cover ``expected`` in order with right offsets; back gives them again."""
    ids = [[item.id for item in p.items] for p in forward]
    assert [i for page in ids for i in page] == expected
    offset = 0
    for page in forward:
        assert (page.total, page.offset) == (len(expected), offset)
        offset += len(page.items)
    assert forward[0].previous_cursor is None
    assert [[item.id for item in p.items] for p in back] == list(reversed(ids[:-1]))
    assert back == [] or back[-1].previous_cursor is None
    for page in back:
        assert page.total == len(expected)
        assert page.offset == expected.index(page.items[0].id)


async def _pull_requests(store: Store, count: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """``count`` pull requests on one project, newest first (ids are creation order)."""
    project = await store.projects.create(name="paged", repository_url="https://git.test/p")
    made = [
        (await store.pull_requests.create(project_id=project.id, branch_name=f"b{i}", title=f"{i}"))
        for i in range(count)
    ]
    return project.id, [pr.id for pr in reversed(made)]


@pytest.mark.parametrize("limit", [1, 3, 7, 8])
async def test_pull_requests_page_forward_and_back(store: Store, other: Store, limit: int) -> None:
    await _pull_requests(other, 4)  # another customer's never show up, nor count
    _, newest_first = await _pull_requests(store, 7)
    forward, back = await walk(store.pull_requests.page, limit)
    assert_walks_back(forward, back, newest_first)
    assert len(forward) == -(-7 // limit)


async def test_pull_requests_page_filters_and_counts(store: Store) -> None:
    project_id, ids = await _pull_requests(store, 5)
    elsewhere = await store.projects.create(name="elsewhere", repository_url="https://git.test/e")
    await store.pull_requests.create(project_id=elsewhere.id, branch_name="x", title="x")
    for pr_id in ids[:2]:
        await store.pull_requests.open(pr_id)
    opened = await store.pull_requests.page(status=PullRequestStatus.OPEN, total=True)
    assert ([p.id for p in opened.items], opened.total) == (ids[:2], 2)
    mine = await store.pull_requests.page(project_id=project_id, total=True, limit=2)
    assert (mine.total, mine.offset, len(mine.items)) == (5, 0, 2)
    assert (await store.pull_requests.page()).total is None  # counted only when asked
    # The plain list is unchanged for its callers.
    assert [p.id for p in await store.pull_requests.list(project_id=project_id)] == ids


async def test_pull_request_cursors_of_another_customer_leak_nothing(
    store: Store, other: Store
) -> None:
    _, ids = await _pull_requests(store, 3)
    _, theirs = await _pull_requests(other, 3)
    for cursor in (theirs[0], uuid.uuid4()):
        after = await store.pull_requests.page(cursor=cursor, total=True)
        before = await store.pull_requests.page(before=cursor, total=True)
        assert set(p.id for p in after.items + before.items) <= set(ids)
        assert after.total == before.total == 3
    # Their newest was made after all of mine: everything of mine is after it, nothing before.
    assert [p.id for p in (await store.pull_requests.page(cursor=theirs[0])).items] == ids
    assert (await store.pull_requests.page(before=theirs[0])).items == []
    with pytest.raises(NotFound):
        await store.pull_requests.page(project_id=(await other.projects.list()).items[0].id)
    with pytest.raises(ValidationError, match="or before"):
        await store.pull_requests.page(cursor=ids[0], before=ids[1])


async def test_pull_request_pages_over_http_and_the_client(store: Store, other: Store) -> None:
    _, ids = await _pull_requests(store, 5)
    await _pull_requests(other, 2)
    async with client_for(store) as fl:
        forward, back = await walk(fl.pull_requests.page, 2)
        assert_walks_back(forward, back, ids)
        assert [p.id for p in await fl.pull_requests.list()] == ids  # still a plain array
        with pytest.raises(ValidationError):
            await fl.pull_requests.page(cursor=ids[0], before=ids[1])


async def _projects(store: Store, count: int, prefix: str = "p") -> list[uuid.UUID]:
    made = [(await store.projects.create(name=f"{prefix}{i}")).id for i in range(count)]
    return list(reversed(made))


@pytest.mark.parametrize("limit", [1, 2, 5, 6])
async def test_projects_page_forward_and_back(store: Store, other: Store, limit: int) -> None:
    await _projects(other, 3, "theirs")
    newest_first = await _projects(store, 5)
    forward, back = await walk(store.projects.list, limit)
    assert_walks_back(forward, back, newest_first)
    # Old callers' forward paging is unchanged: no counts unless asked.
    first = await store.projects.list(limit=2)
    assert (first.total, first.offset, first.previous_cursor) == (None, None, None)


async def test_project_cursors_of_another_customer_leak_nothing(store: Store, other: Store) -> None:
    mine = await _projects(store, 3)
    theirs = await _projects(other, 2, "theirs")
    for cursor in (theirs[0], uuid.uuid4()):
        after = await store.projects.list(cursor=cursor, total=True)
        before = await store.projects.list(before=cursor, total=True)
        assert {p.id for p in after.items + before.items} <= set(mine)
        assert after.total == before.total == 3
    with pytest.raises(ValidationError, match="or before"):
        await store.projects.list(cursor=mine[0], before=mine[1])


async def test_project_pages_over_http_and_the_client(store: Store, other: Store) -> None:
    mine = await _projects(store, 4)
    await _projects(other, 2, "theirs")
    async with client_for(store) as fl:
        forward, back = await walk(fl.projects.list, 3)
        assert_walks_back(forward, back, mine)


async def _events(store: Store, count: int) -> tuple[uuid.UUID, list[int]]:
    task = await store.tasks.create(title="chatty")
    batch = [{"event_type": "log", "task_id": task.id, "content": f"e{i}"} for i in range(count)]
    await store.events.append_batch(batch)
    ids = [e.id for e in (await store.events.list(task_id=task.id, limit=500)).items]
    return task.id, ids


async def _walk_events(read: Reader, task_id: uuid.UUID, limit: int) -> tuple[Any, Any]:
    """Forward from the oldest to the end, then back from the end with before_id."""
    forward = [await read(task_id=task_id, limit=limit)]
    while forward[-1].next_after_id is not None:
        forward.append(await read(task_id=task_id, limit=limit, after_id=forward[-1].next_after_id))
    back = []
    page = forward[-1]
    while page.previous_before_id is not None:
        page = await read(task_id=task_id, limit=limit, before_id=page.previous_before_id)
        back.append(page)
    return forward, back


@pytest.mark.parametrize("limit", [1, 3, 4, 12])
async def test_events_page_back_with_before_id(store: Store, other: Store, limit: int) -> None:
    await _events(other, 3)
    task_id, ids = await _events(store, 11)
    assert len(ids) >= 11
    forward, back = await _walk_events(store.events.list, task_id, limit)
    pages = [[e.id for e in p.items] for p in forward]
    assert [i for page in pages for i in page] == ids
    assert forward[0].previous_before_id is None
    assert [[e.id for e in p.items] for p in back] == list(reversed(pages[:-1]))
    assert back == [] or back[-1].previous_before_id is None
    # The newest page: the one before the largest id, and nothing newer after it.
    newest = await store.events.list(task_id=task_id, limit=limit, before_id=2**63 - 1)
    assert [e.id for e in newest.items] == ids[-limit:]
    assert newest.next_after_id is None
    # A page read back knows what follows it.
    if len(back) > 0:
        assert back[0].next_after_id == back[0].items[-1].id


async def test_event_before_id_is_refused_with_after_id_and_leaks_nothing(
    store: Store, other: Store
) -> None:
    task_id, ids = await _events(store, 3)
    their_task, theirs = await _events(other, 3)
    with pytest.raises(ValidationError, match="not both"):
        await store.events.list(task_id=task_id, after_id=ids[0], before_id=ids[-1])
    with pytest.raises(NotFound):
        await store.events.list(task_id=their_task, before_id=2**63 - 1)
    # Their ids as a cursor are positions among my events only.
    page = await store.events.list(before_id=theirs[-1] + 1, limit=500)
    assert {e.id for e in page.items} <= set(ids) | set(range(0, min(theirs)))
    assert not set(theirs) & {e.id for e in page.items}


async def test_event_pages_back_over_http_and_the_client(store: Store) -> None:
    task_id, ids = await _events(store, 7)
    async with client_for(store) as fl:
        forward, back = await _walk_events(fl.events.list, task_id, 3)
        assert [e.id for p in forward for e in p.items] == ids
        assert [[e.id for e in p.items] for p in back] == [ids[3:6], ids[0:3]]
        with pytest.raises(ValidationError):
            await fl.events.list(task_id=task_id, after_id=ids[0], before_id=ids[-1])

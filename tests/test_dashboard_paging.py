"""The dashboard's other lists page both ways with totals, like /tasks (issue 14, item 6).

Each list is followed through its pager as a person would: "Next" to the end,
then "Previous" back to the start must show the very pages seen forward, each
with its "41-60 of 213" range, and another customer's rows never appear, even
with their id put in the address as a cursor.
"""

from __future__ import annotations

import re
import uuid
from html import unescape

import httpx

from dashboard_browsing import html, link_named, page_range, row_ids, signed_in
from flightlog.store import Store

DASH = "\u2013"


def rel(page: str, name: str) -> str | None:
    """The target of the pager's ``rel="next"`` or ``rel="prev"`` link, if it has one."""
    found = re.search(rf'<a rel="{name}" href="([^"]*)"', page)
    return unescape(found.group(1)) if found else None


async def follow(
    browser: httpx.AsyncClient, url: str, kind: str, **params: object
) -> tuple[list[list[str]], list[str], list[list[str]]]:
    """The rows of each page following "Next" from ``url``, their ranges, and the rows of
    each page following "Previous" back from the last one."""
    page = await html(browser, url, **params)
    forward, ranges = [row_ids(page, kind)], [page_range(page)]
    while (after := rel(page, "next")) is not None:
        page = await html(browser, after)
        forward.append(row_ids(page, kind))
        ranges.append(page_range(page))
    back = []
    while (before := rel(page, "prev")) is not None:
        page = await html(browser, before)
        back.append(row_ids(page, kind))
    return forward, ranges, back


def expected_ranges(total: int, size: int) -> list[str]:
    return [
        f"{start + 1}{DASH}{min(start + size, total)} of {total}" for start in range(0, total, size)
    ]


async def _pull_requests(store: Store, count: int, name: str = "paged") -> list[str]:
    project = await store.projects.create(name=name, repository_url=f"https://git.test/{name}")
    made = [
        await store.pull_requests.create(
            project_id=project.id, branch_name=f"b{i}", title=f"PR {i}"
        )
        for i in range(count)
    ]
    return [str(pr.id) for pr in reversed(made)]


async def test_pull_requests_page_forward_and_back_with_totals(store: Store, other: Store) -> None:
    await _pull_requests(other, 3, "theirs")
    newest_first = await _pull_requests(store, 53)
    async with signed_in(store) as browser:
        forward, ranges, back = await follow(browser, "/pull-requests", "pull-request")
        assert [i for page in forward for i in page] == newest_first
        assert ranges == expected_ranges(53, 50)
        assert back == list(reversed(forward[:-1]))
        filtered = await html(browser, "/pull-requests", status="MERGED")
        assert row_ids(filtered, "pull-request") == []
        assert "No pull requests match these filters" in filtered


async def test_pull_request_pager_keeps_the_filters(store: Store) -> None:
    ids = await _pull_requests(store, 52)
    await _pull_requests(store, 2, "other-project")
    project = (await store.projects.get_by_name("paged")).id
    async with signed_in(store) as browser:
        first = await html(browser, "/pull-requests", project=project)
        assert page_range(first) == f"1{DASH}50 of 52"
        nxt = link_named(first, "Next")
        assert f"project={project}" in nxt
        second = await html(browser, nxt)
        assert row_ids(second, "pull-request") == ids[50:]
        assert page_range(second) == f"51{DASH}52 of 52"


async def test_another_customers_id_as_a_cursor_shows_only_mine(store: Store, other: Store) -> None:
    mine = await _pull_requests(store, 3)
    theirs = await _pull_requests(other, 3, "theirs")
    async with signed_in(store) as browser:
        for cursor in (theirs[0], str(uuid.uuid4())):
            for name in ("cursor", "before"):
                page = await html(browser, "/pull-requests", **{name: cursor})
                assert set(row_ids(page, "pull-request")) <= set(mine)
                assert not any(t in page for t in theirs)
                assert re.search(r"of 3\b", page_range(page))


async def test_projects_page_forward_and_back_with_totals(store: Store, other: Store) -> None:
    await other.projects.create(name="their secret project")
    made = [str((await store.projects.create(name=f"p{i:02}")).id) for i in range(51)]
    async with signed_in(store) as browser:
        forward, ranges, back = await follow(browser, "/projects", "project")
        assert [i for page in forward for i in page] == list(reversed(made))
        assert ranges == expected_ranges(51, 50)
        assert back == list(reversed(forward[:-1]))
        theirs = (await other.projects.list()).items[0].id
        for name in ("cursor", "before"):
            page = await html(browser, "/projects", **{name: theirs})
            assert "their secret project" not in page
            assert set(row_ids(page, "project")) <= set(made)


async def test_task_events_page_newer_and_older(store: Store, other: Store) -> None:
    task = await store.tasks.create(title="chatty")
    batch = [{"event_type": "log", "task_id": task.id, "content": f"e{i}"} for i in range(205)]
    await store.events.append_batch(batch)
    ids = [str(e.id) for e in (await store.events.list(task_id=task.id, limit=500)).items]
    their_task = await other.tasks.create(title="theirs")
    await other.events.append_batch([{"event_type": "log", "task_id": their_task.id}])
    async with signed_in(store) as browser:
        url = f"/tasks/{task.id}"
        forward, _, back = await follow_events(browser, url)
        assert [i for page in forward for i in page] == ids
        assert [len(page) for page in forward] == [100, 100, len(ids) - 200]
        assert back == list(reversed(forward[:-1]))
        newest = await html(browser, link_named(await html(browser, url), "Newest"))
        assert row_ids(newest, "event") == ids[-100:]
        assert rel(newest, "next") is None
        assert row_ids(await html(browser, rel(newest, "prev") or ""), "event") == ids[-200:-100]
        # Another customer's task stays a 404, whatever the cursor.
        refused = await browser.get(f"/tasks/{their_task.id}", params={"events_before": 5})
        assert refused.status_code == 404


async def follow_events(
    browser: httpx.AsyncClient, url: str
) -> tuple[list[list[str]], None, list[list[str]]]:
    """The event rows of each page following "Newer" from ``url``, then "Older" back."""
    page = await html(browser, url)
    forward = [row_ids(page, "event")]
    while (after := rel(page, "next")) is not None:
        page = await html(browser, after)
        forward.append(row_ids(page, "event"))
    back = []
    while (before := rel(page, "prev")) is not None:
        page = await html(browser, before)
        back.append(row_ids(page, "event"))
    return forward, None, back

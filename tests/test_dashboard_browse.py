"""Finding tasks in the dashboard: search, filters, sortable columns, pages both ways (issue 14).

Each filter must narrow the list to what it names, each sortable column must
order the rows both ways (and say so with aria-sort), every link must keep the
other parameters, and paging forward then back must come back to the same
first page, with totals that add up. The task page marks what changes as live
regions, and everything a user typed comes back escaped.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from dashboard_browsing import (
    html,
    link_named,
    links,
    page_range,
    row_ids,
    set_times,
    signed_in,
    sorted_header,
)
from flightlog.enums import TaskStatus
from flightlog.services._common import utc_now
from flightlog.store import Store

#: What separates a page's first and last row numbers (an en dash, as in "41-60 of 213").
DASH = "\u2013"


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def test_search_finds_a_task_by_a_word_of_its_title_or_description(
    store: Store, other: Store
) -> None:
    deploy = await store.tasks.create(title="Ship it", description="Automate the migrations")
    login = await store.tasks.create(title="Authentication <script>x</script> flow")
    await store.tasks.create(title="Unrelated chores")
    await other.tasks.create(title="Their migration secrets", description="migrate")
    async with signed_in(store) as browser:
        found = await html(browser, "/search", q="migrating")  # stemmed: finds "migrations"
        assert row_ids(found) == [str(deploy.id)]
        assert "Their migration" not in found
        assert 'name="q" placeholder="Search tasks" value="migrating"' in found  # kept in the nav
        by_title = await html(browser, "/search", q="authentication")
        assert row_ids(by_title) == [str(login.id)]
        assert "<script>x</script>" not in by_title
        assert "&lt;script&gt;x&lt;/script&gt;" in by_title
        typed = await html(browser, "/search", q='"><b>x</b> OR (')
        assert "<b>x</b>" not in typed
        assert 'value="&#34;&gt;&lt;b&gt;x&lt;/b&gt; OR ("' in typed
        assert row_ids(typed) == []
        empty = await html(browser, "/search", q="  ")
        assert row_ids(empty) == []
        assert "Type words to look for" in empty


async def _varied(store: Store) -> dict[str, uuid.UUID]:
    """Tasks that differ in every filter: status, project, tag, agent, age."""
    now = utc_now()
    project = await store.projects.create(name="rocket")
    agent = await store.agents.register("pilot", "engineer")
    ids = {
        "fresh": (await store.tasks.create(title="fresh", tags=["ui"], project_id=project.id)).id,
        "week": (await store.tasks.create(title="week old", tags=["api"])).id,
        "old": (await store.tasks.create(title="old", tags=["ui", "api"])).id,
        "flown": (await store.tasks.create(title="flown", assigned_agent_id=agent.id)).id,
    }
    run = await store.runs.start(ids["week"], agent_id=agent.id)
    await store.runs.fail(run.id, error_message="boom")  # week: FAILED, ran by the agent
    await set_times(store, ids["fresh"], now - timedelta(hours=2), now - timedelta(hours=2))
    await set_times(store, ids["week"], now - timedelta(days=6), now - timedelta(hours=5))
    await set_times(store, ids["old"], now - timedelta(days=40), now - timedelta(days=40))
    await set_times(store, ids["flown"], now - timedelta(days=20), now - timedelta(days=3))
    return ids | {"project": project.id, "agent": agent.id}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"fresh", "week", "old", "flown"}),
        ({"status": "FAILED"}, {"week"}),
        ({"status": "PENDING"}, {"fresh", "old", "flown"}),
        ({"tag": "ui"}, {"fresh", "old"}),
        ({"tag": "api", "status": "PENDING"}, {"old"}),
        ({"within": "24h"}, {"fresh"}),
        ({"within": "7d"}, {"fresh", "week"}),
        ({"within": "24h", "by": "updated"}, {"fresh", "week"}),
        ({"within": "7d", "by": "updated"}, {"fresh", "week", "flown"}),
        ({"within": "30d", "status": "", "tag": ""}, {"fresh", "week", "flown"}),  # "" is "any"
    ],
)
async def test_each_filter_narrows_the_list(
    store: Store, params: dict[str, str], expected: set[str]
) -> None:
    ids = await _varied(store)
    names = {str(v): k for k, v in ids.items()}
    async with signed_in(store) as browser:
        page = await html(browser, "/tasks", **params)
    assert {names[i] for i in row_ids(page)} == expected
    assert page_range(page).endswith(f"of {len(expected)}")


async def test_the_project_and_agent_filters_take_ids_and_refuse_another_customers(
    store: Store, other: Store
) -> None:
    ids = await _varied(store)
    names = {str(v): k for k, v in ids.items()}
    theirs = await other.projects.create(name="theirs")
    async with signed_in(store) as browser:
        in_project = await html(browser, "/tasks", project=ids["project"])
        assert [names[i] for i in row_ids(in_project)] == ["fresh"]
        assert f'<option value="{ids["project"]}" selected>rocket</option>' in in_project
        by_agent = await html(browser, "/tasks", agent=ids["agent"], sort="title", order="asc")
        assert [names[i] for i in row_ids(by_agent)] == ["flown", "week"]  # assigned; ran it
        for param, foreign in (("project", theirs.id), ("project", uuid.uuid4())):
            refused = await browser.get("/tasks", params={param: str(foreign)})
            assert refused.status_code == 404
            assert "theirs" not in refused.text


async def test_every_column_sorts_both_ways_and_says_so(store: Store) -> None:
    now = utc_now()
    specs = [
        ("beta", 3, TaskStatus.PENDING),
        ("Alpha", 1, TaskStatus.COMPLETED),
        ("gamma", 2, TaskStatus.RUNNING),
        ("delta", 2, TaskStatus.CANCELLED),
    ]
    made = []
    for i, (title, priority, status) in enumerate(specs):
        task = await store.tasks.create(title=title, priority=priority)
        if status is not TaskStatus.PENDING:
            run = await store.runs.start(task.id)
            if status is TaskStatus.COMPLETED:
                await store.runs.finish(run.id)
            elif status is TaskStatus.CANCELLED:
                await store.tasks.cancel(task.id)
        await set_times(store, task.id, now - timedelta(hours=10 - i), now - timedelta(hours=i))
        made.append(task.id)
    by_title = [made[1], made[0], made[3], made[2]]  # Alpha, beta, delta, gamma
    expected = {
        ("title", "asc"): by_title,
        ("status", "asc"): [made[0], made[2], made[1], made[3]],  # lifecycle order
        ("priority", "desc"): [made[0], made[3], made[2], made[1]],  # ties: newest id first
        ("created", "desc"): list(reversed(made)),
        ("updated", "desc"): made,
    }
    async with signed_in(store) as browser:
        for (sort, order), want in expected.items():
            page = await html(browser, "/tasks", sort=sort, order=order)
            assert row_ids(page) == [str(t) for t in want], sort
            label = {"title": "task"}.get(sort, sort)
            assert sorted_header(page) == (label, "ascending" if order == "asc" else "descending")
            flipped = await html(browser, link_named(page, f"sort by {label}"))
            assert row_ids(flipped) == [str(t) for t in reversed(want)], sort
            assert sorted_header(flipped)[1] != sorted_header(page)[1]
        first_click = await html(browser, "/tasks")  # newest first; a title click sorts A to Z
        assert _query(link_named(first_click, "sort by task"))["order"] == "asc"
        assert _query(link_named(first_click, "sort by priority"))["order"] == "desc"


async def test_links_keep_each_other_and_paging_returns_to_the_first_page(store: Store) -> None:
    for i in range(45):
        tags = ["bulk", f"t{i % 2}"] if i % 3 else ["other"]
        await store.tasks.create(title=f"task {i:02d}", tags=tags)
    async with signed_in(store) as browser:
        first = await html(browser, "/tasks", tag="bulk", sort="title", order="desc", per_page=10)
        assert page_range(first) == f"1{DASH}10 of 30"
        assert "Previous" not in first
        sort_link = _query(link_named(first, "sort by status"))
        assert sort_link == {"tag": "bulk", "sort": "status", "order": "asc", "per_page": "10"}
        tag_links = [_query(h) for h in links(first) if "tag=t1" in h]
        assert tag_links
        assert all(
            q == {"tag": "t1", "sort": "title", "order": "desc", "per_page": "10"}
            for q in tag_links
        )
        pages = [first]
        while "Next" in pages[-1]:
            following = link_named(pages[-1], "Next")
            assert _query(following)["sort"] == "title"
            assert _query(following)["tag"] == "bulk"
            pages.append(await html(browser, following))
        assert [page_range(p) for p in pages] == [
            f"1{DASH}10 of 30",
            f"11{DASH}20 of 30",
            f"21{DASH}30 of 30",
        ]
        seen = [i for p in pages for i in row_ids(p)]
        assert len(seen) == len(set(seen)) == 30
        back = pages[-1]
        for want in reversed(pages[:-1]):
            back = await html(browser, link_named(back, "\u2039 Previous"))
            assert row_ids(back) == row_ids(want)
            assert page_range(back) == page_range(want)
        assert "Previous" not in back
        assert _query(link_named(pages[1], "« First")) == _query(
            link_named(first, "sort by task")
        ) | {"order": "desc"}


async def test_the_task_page_shows_its_parts_live_and_escaped(store: Store) -> None:
    project = await store.projects.create(name="<i>proj</i>", repository_url="https://git.test/p")
    agent = await store.agents.register("<b>bot</b>", "engineer")
    parent = await store.tasks.create(title="parent")
    task = await store.tasks.create(
        title="child <script>",
        project_id=project.id,
        parent_task_id=parent.id,
        assigned_agent_id=agent.id,
        tags=["a&b"],
        description="<em>why</em>",
    )
    run = await store.runs.start(task.id)
    for i in range(3):
        await store.events.append({"event_type": "log", "task_id": task.id, "content": f"e{i} <x>"})
    pr = await store.pull_requests.create(
        project_id=project.id, branch_name="b", title="the PR", task_id=task.id
    )
    async with signed_in(store) as browser:
        page = await html(browser, f"/tasks/{task.id}")
    assert f'data-live-task="{task.id}"' in page
    for region in ("task-status", "task-runs", "task-events", "task-artifacts"):
        assert f'data-live-region="{region}"' in page
    assert f'data-since="{run.started_at.isoformat()}"' in page if run.started_at else True
    assert f'href="/runs/{run.id}"' in page
    assert f'href="/pull-requests/{pr.id}"' in page
    assert f'href="/projects/{project.id}"' in page
    assert f'href="/agents/{agent.id}"' in page
    assert f'href="/tasks/{parent.id}"' in page
    assert 'href="/tasks?tag=a%26b"' in page
    for raw in ("<script>", "<i>proj</i>", "<b>bot</b>", "<em>why</em>", "e0 <x>"):
        assert raw not in page
    assert "e2 &lt;x&gt;" in page
    assert "&lt;em&gt;why&lt;/em&gt;" in page


async def test_the_lists_are_live_regions_and_bad_parameters_are_error_pages(store: Store) -> None:
    await store.tasks.create(title="one")
    async with signed_in(store) as browser:
        page = await html(browser, "/tasks")
        assert 'data-live-region="tasks"' in page
        for params in (
            {"sort": "colour"},
            {"within": "1y"},
            {"per_page": "0"},
            {"cursor": str(uuid.uuid4()), "before": str(uuid.uuid4())},
        ):
            bad = await browser.get("/tasks", params=params)
            assert bad.status_code == 422, params
            assert bad.headers["content-type"].startswith("text/html")

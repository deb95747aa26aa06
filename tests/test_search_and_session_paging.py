"""Search results and sessions page both ways with totals (issue 14, item 6).

Search pages by offset (a ranked list: rank, then id, is a stable order for a
fixed query); sessions by id cursors like pull requests. Forward to the end
then back must give the very pages read forward, the counts must say where each
page lies, and another customer's rows never appear nor count. Both databases.
"""

from __future__ import annotations

import os
import time
import uuid

import pytest

from dashboard_browsing import html, page_range, row_ids, signed_in
from flightlog import ValidationError
from flightlog.otlp.spans import Span, SpanKind, StatusCode
from flightlog.store import Store
from test_client import client_for
from test_dashboard_paging import expected_ranges, follow
from test_list_paging import assert_walks_back, walk


async def _tasks(store: Store, count: int, word: str) -> None:
    for i in range(count):
        # Two kinds of match, so ranks differ and also tie (broken by id).
        title = f"{word} {word} report {i}" if i % 3 == 0 else f"{word} report {i}"
        await store.tasks.create(title=title, description="plain")


async def _all_hits(store: Store, word: str) -> list[uuid.UUID]:
    return [task.id for task, _ in await store.search.tasks(word, limit=200)]


@pytest.mark.parametrize("limit", [1, 4, 7, 11])
async def test_search_pages_forward_and_back(store: Store, other: Store, limit: int) -> None:
    await _tasks(other, 5, "deploy")  # another customer's never show up, nor count
    await _tasks(store, 11, "deploy")
    await store.tasks.create(title="unrelated")
    best = await _all_hits(store, "deploy")
    assert len(best) == 11
    forward = [await store.search.page("deploy", limit=limit)]
    while forward[-1].next_offset is not None:
        forward.append(
            await store.search.page("deploy", offset=forward[-1].next_offset, limit=limit)
        )
    assert [t.id for p in forward for t, _ in p.items] == best
    assert [(p.total, p.offset) for p in forward] == [(11, i) for i in range(0, 11, limit)]
    back = [forward[-1]]
    while back[-1].previous_offset is not None:
        back.append(await store.search.page("deploy", offset=back[-1].previous_offset, limit=limit))
    assert [[t.id for t, _ in p.items] for p in back] == [
        [t.id for t, _ in p.items] for p in reversed(forward)
    ]
    assert forward[0].previous_offset is None
    # The plain list pages the same way with offset=.
    assert [t.id for t, _ in await store.search.tasks("deploy", limit, offset=limit)] == best[
        limit : 2 * limit
    ]


async def test_search_ties_are_broken_by_id_and_counts_follow_the_match(store: Store) -> None:
    made = [(await store.tasks.create(title="alpha beta")).id for _ in range(5)]
    hits = await store.search.tasks("alpha", limit=200)
    assert len({rank for _, rank in hits}) == 1  # all tie on rank
    assert [t.id for t, _ in hits] == sorted(made, reverse=True)
    assert (await store.search.page("alpha beta")).total == 5
    assert (await store.search.page("alpha gamma")).total == 0
    past = await store.search.page("alpha", offset=50, limit=2)
    assert (past.items, past.total, past.next_offset) == ([], 5, None)
    with pytest.raises(ValidationError):
        await store.search.page("alpha", offset=-1)
    with pytest.raises(ValidationError):
        await store.search.page("   ")


async def test_search_pages_over_http_and_the_client(store: Store, other: Store) -> None:
    await _tasks(store, 5, "migrate")
    await _tasks(other, 3, "migrate")
    best = await _all_hits(store, "migrate")
    async with client_for(store) as fl:
        first = await fl.search.page("migrate", limit=2)
        assert ([h.task.id for h in first.items], first.total, first.next_offset) == (
            best[:2],
            5,
            2,
        )
        last = await fl.search.page("migrate", offset=4, limit=2)
        assert ([h.task.id for h in last.items], last.previous_offset, last.next_offset) == (
            best[4:],
            2,
            None,
        )
        # The array answer is unchanged for its callers, and takes offset= too.
        assert [h.task.id for h in await fl.search.tasks("migrate", 3)] == best[:3]
        assert [h.task.id for h in await fl.search.tasks("migrate", 3, offset=3)] == best[3:]


async def test_search_page_on_the_dashboard_forward_and_back(store: Store, other: Store) -> None:
    await _tasks(other, 4, "rollout")
    await _tasks(store, 103, "rollout")
    best = [str(i) for i in await _all_hits(store, "rollout")]
    async with signed_in(store) as browser:
        forward, ranges, back = await follow(browser, "/search", "task", q="rollout")
        assert [i for page in forward for i in page] == best
        assert ranges == expected_ranges(103, 50)
        assert back == list(reversed(forward[:-1]))
        second = await html(browser, "/search", q="rollout", offset=50)
        assert page_range(second) == "51\u2013100 of 103"
        assert row_ids(await html(browser, "/search", q="nothing-like-it"), "task") == []


def _root_span(conversation: str) -> Span:
    return Span(
        trace_id=os.urandom(16).hex(),
        span_id=os.urandom(8).hex(),
        parent_span_id=None,
        name="invoke_agent paged",
        kind=SpanKind.INTERNAL,
        start_time_unix_nano=time.time_ns() - 2_000_000_000,
        end_time_unix_nano=time.time_ns() - 1_000_000_000,
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.conversation.id": conversation,
        },
        events=(),
        status_code=StatusCode.UNSET,
        status_message="",
        resource={},
        scope_name="paging",
    )


async def _sessions(store: Store, count: int) -> list[uuid.UUID]:
    """``count`` sessions, newest first."""
    await store.traces.record([_root_span(f"conv-{uuid.uuid4()}") for _ in range(count)])
    return [s.id for s in await store.sessions.list(limit=500)]


@pytest.mark.parametrize("limit", [1, 3, 6])
async def test_sessions_page_forward_and_back(store: Store, other: Store, limit: int) -> None:
    theirs = await _sessions(other, 3)
    newest_first = await _sessions(store, 6)
    assert len(newest_first) == 6
    forward, back = await walk(store.sessions.page, limit)
    assert_walks_back(forward, back, newest_first)
    assert forward[0].items[0].run_count == 1  # summaries, with their runs' totals
    for cursor in (theirs[0], uuid.uuid4()):
        after = await store.sessions.page(cursor=cursor, total=True)
        before = await store.sessions.page(before=cursor, total=True)
        assert {s.id for s in after.items + before.items} <= set(newest_first)
        assert after.total == before.total == 6
    with pytest.raises(ValidationError, match="or before"):
        await store.sessions.page(cursor=newest_first[0], before=newest_first[1])


async def test_sessions_page_over_http_and_the_client(store: Store, other: Store) -> None:
    await _sessions(other, 2)
    ids = await _sessions(store, 5)
    async with client_for(store) as fl:
        forward, back = await walk(fl.sessions.page, 2)
        assert_walks_back(forward, back, ids)
        assert [s.id for s in await fl.sessions.list()] == ids  # still a plain array
        with pytest.raises(ValidationError):
            await fl.sessions.page(cursor=ids[0], before=ids[1])


async def test_sessions_page_on_the_dashboard_forward_and_back(store: Store, other: Store) -> None:
    await _sessions(other, 3)
    newest_first = [str(i) for i in await _sessions(store, 53)]
    async with signed_in(store) as browser:
        forward, ranges, back = await follow(browser, "/sessions", "session")
        assert [i for page in forward for i in page] == newest_first
        assert ranges == expected_ranges(53, 50)
        assert back == list(reversed(forward[:-1]))

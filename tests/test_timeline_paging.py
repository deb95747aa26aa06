"""A run's timeline pages both ways (issue 14): ``before`` reads back to the pages read forward.

Also: the agent steps a page's entries happen in come with the page (``enclosing``), the
run's entries can be counted, a step's AGENT_START and AGENT_COMPLETE events are at the
step's own instants so they sort with it, and the HTTP route and client take the same
parameters, on both dialects.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from api_client import client_of, error_code
from flightlog import ValidationError
from flightlog.enums import EventType
from flightlog.models import AgentRun, Event
from flightlog.services.events import MAX_EVENT_ID
from flightlog.services.timeline import Timeline, TimelineCursor
from flightlog.store import Store
from test_client import client_for
from timeline_seed import SeededRun, seed_run

END = TimelineCursor(at=datetime(9000, 1, 1, tzinfo=UTC), kind="event", key=str(MAX_EVENT_ID))


def _ids(page: Timeline) -> list[tuple[str, Any]]:
    return [(entry.kind, entry.item.id) for entry in page.entries]


async def _forward(store: Store, run: SeededRun, limit: int) -> list[Timeline]:
    pages = [await store.runs.timeline(run.run_id, limit=limit)]
    while pages[-1].next_cursor is not None:
        pages.append(
            await store.runs.timeline(run.run_id, after=pages[-1].next_cursor, limit=limit)
        )
    return pages


async def test_reading_back_returns_the_pages_read_forward(store: Store) -> None:
    run = await seed_run(store)
    everything = await store.runs.timeline(run.run_id, limit=5000, total=True)
    order = _ids(everything)
    assert everything.total == len(order) > 100
    assert (everything.next_cursor, everything.previous_cursor) == (None, None)
    for limit in (2, 17):
        pages = await _forward(store, run, limit)
        assert [i for page in pages for i in _ids(page)] == order, limit
        assert pages[0].previous_cursor is None
        back = [pages[-1]]
        while back[-1].previous_cursor is not None:
            cursor = back[-1].previous_cursor
            back.append(await store.runs.timeline(run.run_id, before=cursor, limit=limit))
        assert [_ids(p) for p in back] == [_ids(p) for p in reversed(pages)], limit
        # From the very end: the newest page, then back to the start, every entry once.
        newest = await store.runs.timeline(run.run_id, before=END, limit=limit)
        assert newest.next_cursor is None
        seen = _ids(newest)
        page = newest
        while page.previous_cursor is not None:
            page = await store.runs.timeline(run.run_id, before=page.previous_cursor, limit=limit)
            assert page.next_cursor is not None
            seen = _ids(page) + seen
        assert seen == order, limit


async def test_a_step_sorts_before_its_own_events_and_its_end(store: Store) -> None:
    run = await seed_run(store)
    page = await store.runs.timeline(run.run_id, limit=5000)
    position = {(e.kind, e.item.id): i for i, e in enumerate(page.entries)}
    times = [e.at for e in page.entries]
    assert times == sorted(times)
    for entry in page.entries:
        item = entry.item
        if isinstance(item, Event) and item.agent_run_id is not None:
            assert position[("agent_run", item.agent_run_id)] < position[("event", item.id)]
            if item.event_type == "AGENT_START":
                step = page.entries[position[("agent_run", item.agent_run_id)]].item
                assert isinstance(step, AgentRun)
                assert item.created_at == step.started_at


async def test_an_agent_steps_start_and_end_events_are_at_its_own_instants(store: Store) -> None:
    task = await store.tasks.create(title="instants")
    run = await store.runs.start(task.id)
    step = await store.agent_runs.start(run.id, agent_name="Engineer")
    done = await store.agent_runs.finish(step.id, output_summary="ok")
    page = await store.runs.timeline(run.id)
    events = {e.item.event_type: e.item for e in page.entries if isinstance(e.item, Event)}
    assert events[EventType.AGENT_START].created_at == step.started_at
    assert events[EventType.AGENT_COMPLETE].created_at == done.finished_at
    kinds = [(e.kind, getattr(e.item, "event_type", None)) for e in page.entries]
    assert kinds.index(("agent_run", None)) < kinds.index(("event", "AGENT_START"))


async def test_a_page_brings_the_steps_its_entries_happen_in(store: Store) -> None:
    run = await seed_run(store)
    by_id = {step.id: step for step in run.steps}
    checked = 0
    for page in await _forward(store, run, 6):
        on_page = {e.item.id for e in page.entries if e.kind == "agent_run"}
        enclosing = {a.id for a in page.enclosing}
        assert not on_page & enclosing
        wanted = {e.item.agent_run_id for e in page.entries if isinstance(e.item, Event)}
        wanted |= {by_id[i].parent for i in on_page if isinstance(i, uuid.UUID)}
        wanted.discard(None)
        # Each wanted step and all its ancestors are on the page or come with it.
        for step_id in wanted:
            while step_id is not None:
                assert step_id in on_page | enclosing
                step_id = by_id[step_id].parent
        checked += len(enclosing)
        starts = [a.started_at for a in page.enclosing]
        assert starts == sorted(starts)
    assert checked > 0


async def test_bad_or_doubled_cursors_are_refused(store: Store) -> None:
    task = await store.tasks.create(title="cursors")
    run = await store.runs.start(task.id)
    for name in ("A", "B"):
        await store.agent_runs.start(run.id, agent_name=name)
    first = await store.runs.timeline(run.id, limit=1)
    assert first.next_cursor is not None
    with pytest.raises(ValidationError, match="not both"):
        await store.runs.timeline(run.id, after=first.next_cursor, before=END)
    bad = TimelineCursor(at=END.at, kind="agent_run", key="not-a-uuid")
    with pytest.raises(ValidationError, match="cursor"):
        await store.runs.timeline(run.id, before=bad)
    # An empty page at the start has nothing on either side.
    start = await store.runs.timeline(run.id, before=first.entries[0].cursor)
    assert (start.entries, start.next_cursor, start.previous_cursor) == ([], None, None)


async def test_the_api_and_client_page_back_too(store: Store) -> None:
    run = await seed_run(store)
    order = _ids(await store.runs.timeline(run.run_id, limit=5000))
    async with client_for(store) as fl:
        first = await fl.runs.timeline(run.run_id, limit=4, total=True)
        assert first.total == len(order)
        assert first.previous is None
        assert first.next is not None
        second = await fl.runs.timeline(run.run_id, after=first.next, limit=4)
        assert second.previous is not None
        again = await fl.runs.timeline(run.run_id, before=second.previous, limit=4)
        assert [e.at for e in again.entries] == [e.at for e in first.entries]
        assert again.total is None
    async with client_of(store) as api:
        path = f"/runs/{run.run_id}/timeline"
        cursor = {"at": END.at.isoformat(), "kind": END.kind, "key": END.key}
        newest = await api.get(path, params={f"before_{k}": v for k, v in cursor.items()})
        assert newest.status_code == 200, newest.text
        body = newest.json()
        assert body["next"] is None
        assert len(body["entries"]) == min(200, len(order))
        both = {f"before_{k}": v for k, v in cursor.items()} | {
            f"after_{k}": v for k, v in cursor.items()
        }
        assert error_code(await api.get(path, params=both), 422) == "validation_error"
        half = await api.get(path, params={"before_kind": "event"})
        assert error_code(half, 422) == "validation_error"

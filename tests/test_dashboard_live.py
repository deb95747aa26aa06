"""Live pages (issue 14, item 3): the dashboard's stream, the navigation count, live regions.

The browser side (a page changing without reload within a second or two) is tested in a
real Chromium in tests/browser/; here the server side it relies on.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from api_client import app_for
from flightlog.store import Store

#: Long enough for the stream to poll, short enough for a test.
STREAM = {"timeout_seconds": "1"}


@asynccontextmanager
async def _signed_in(store: Store, *scopes: str) -> AsyncIterator[httpx.AsyncClient]:
    created = await store.api_keys.create("watcher", scopes=list(scopes) or ["read"])
    transport = httpx.ASGITransport(app=app_for(store))
    async with httpx.AsyncClient(transport=transport, base_url="http://flightlog.test") as web:
        assert (await web.post("/login", data={"key": created.key})).status_code == 303
        yield web


def _ids(body: str) -> list[int]:
    return [int(found) for found in re.findall(r"^id: (\d+)$", body, flags=re.MULTILINE)]


async def test_the_stream_needs_a_signed_in_browser(store: Store) -> None:
    transport = httpx.ASGITransport(app=app_for(store))
    async with httpx.AsyncClient(transport=transport, base_url="http://flightlog.test") as web:
        answer = await web.get("/live/stream", params=STREAM)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login")
        assert (await web.get("/live/summary")).status_code == 303


async def test_the_stream_starts_now_and_resumes_after_the_last_event_id(
    store: Store, other: Store
) -> None:
    task = await store.tasks.create(title="watched")
    before = await store.events.append({"event_type": "LOG", "task_id": task.id, "content": "a"})
    async with _signed_in(store) as web:
        fresh = await web.get("/live/stream", params=STREAM)
        assert fresh.status_code == 200
        assert fresh.headers["content-type"].startswith("text/event-stream")
        assert _ids(fresh.text) == [], "a page's stream starts after what the page shows"
        theirs = await other.tasks.create(title="theirs")
        await other.events.append({"event_type": "LOG", "task_id": theirs.id, "content": "x"})
        later = [
            await store.events.append({"event_type": "LOG", "task_id": task.id, "content": c})
            for c in ("b", "c")
        ]
        resumed = await web.get(
            "/live/stream", params=STREAM, headers={"Last-Event-ID": str(before.id)}
        )
        expected = [e.id for e in (await store.events.list(after_id=before.id)).items]
        assert _ids(resumed.text) == expected  # only this customer's, in order
        assert expected[-2:] == [e.id for e in later]
        assert "\nevent:" not in resumed.text, "unnamed, so EventSource.onmessage sees them"


async def test_a_stream_of_a_run_sends_only_that_runs_events(store: Store, other: Store) -> None:
    task = await store.tasks.create(title="two runs")
    watched, unwatched = await store.runs.start(task.id), await store.runs.start(task.id)
    first = await store.events.append({"event_type": "LOG", "task_id": task.id, "content": "0"})
    mine = await store.events.append(
        {"event_type": "LOG", "task_id": task.id, "run_id": watched.id, "content": "1"}
    )
    await store.events.append(
        {"event_type": "LOG", "task_id": task.id, "run_id": unwatched.id, "content": "2"}
    )
    their_run = await other.runs.start((await other.tasks.create(title="theirs")).id)
    async with _signed_in(store) as web:
        scoped = await web.get(
            "/live/stream",
            params={**STREAM, "run_id": str(watched.id)},
            headers={"Last-Event-ID": str(first.id)},
        )
        assert _ids(scoped.text) == [mine.id]
        foreign = await web.get("/live/stream", params={**STREAM, "run_id": str(their_run.id)})
        assert foreign.status_code == 404


async def test_the_summary_counts_what_waits_for_a_person(store: Store, other: Store) -> None:
    task = await store.tasks.create(title="plan me")
    run = await store.runs.start(task.id, plan={"steps": ["x"]}, await_plan_approval=True)
    await store.recommendations.create(
        recommendation_type="cost", title="cache", confidence_score=0.5
    )
    await other.recommendations.create(
        recommendation_type="cost", title="theirs", confidence_score=0.5
    )
    async with _signed_in(store) as web:
        summary = await web.get("/live/summary")
        assert summary.headers["cache-control"] == "no-store"
        assert summary.json()["waiting"] == 2
        await store.runs.decide_plan(run.id, approve=True, decided_by="someone")
        assert (await web.get("/live/summary")).json()["waiting"] == 1


async def test_pages_mark_what_live_updates_refresh(store: Store) -> None:
    async with _signed_in(store) as web:
        empty = await web.get("/")
        assert '<span class="count" data-live-count="waiting" hidden>0</span>' in empty.text
        await store.recommendations.create(
            recommendation_type="cost", title="cache", confidence_score=0.5
        )
        waiting = await web.get("/waiting")
        assert 'data-live-region="waiting"' in waiting.text
        assert '<span class="count" data-live-count="waiting">1</span>' in waiting.text
        assert '<script src="/static/live.js" defer></script>' in waiting.text
        script = await web.get("/static/live.js")
        assert script.status_code == 200
        assert "javascript" in script.headers["content-type"]
        assert "EventSource" in script.text

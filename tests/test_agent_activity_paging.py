"""An agent's runs page both ways with their place among all of them (issue 14, item 6):
in the Store, over HTTP and on the agent's dashboard page, on both databases."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from api_client import app_for, client_of, ok
from flightlog.errors import ValidationError
from flightlog.store import Store

#: How a page range reads ("21-40 of 73", with an en dash).
DASH = "\u2013"


async def _agent_with_runs(
    store: Store, count: int, name: str = "pager"
) -> tuple[uuid.UUID, list[uuid.UUID]]:
    agent = await store.agents.register(name, "engineer")
    runs = []
    for number in range(count):
        task = await store.tasks.create(title=f"job {number}")
        run = await store.runs.start(task.id)
        await store.agent_runs.start(run.id, agent_name=name, agent_id=agent.id)
        runs.append(run.id)
    return agent.id, list(reversed(runs))  # newest first, as the activity lists them


async def test_reading_back_gives_the_pages_read_forward(store: Store, other: Store) -> None:
    agent_id, newest_first = await _agent_with_runs(store, 5)
    their_agent, _ = await _agent_with_runs(other, 2)
    forward = []
    page = await store.agents.activity(agent_id, limit=2)
    forward.append(page)
    while page.next_cursor is not None:
        page = await store.agents.activity(agent_id, cursor=page.next_cursor, limit=2)
        forward.append(page)
    assert [[w.run_id for w in p.recent] for p in forward] == [
        newest_first[0:2],
        newest_first[2:4],
        newest_first[4:5],
    ]
    assert [p.offset for p in forward] == [0, 2, 4]
    assert {p.runs for p in forward} == {5}
    assert forward[0].previous_cursor is None
    backward = [page]
    while page.previous_cursor is not None:
        page = await store.agents.activity(agent_id, before=page.previous_cursor, limit=2)
        backward.append(page)
    assert [[w.run_id for w in p.recent] for p in reversed(backward)] == [
        [w.run_id for w in p.recent] for p in forward
    ]
    assert [p.offset for p in reversed(backward)] == [0, 2, 4]
    with pytest.raises(ValidationError):
        await store.agents.activity(agent_id, cursor=newest_first[1], before=newest_first[3])
    assert (await other.agents.activity(their_agent)).runs == 2


async def test_the_route_and_the_page_read_back(store: Store) -> None:
    agent_id, newest_first = await _agent_with_runs(store, 5)
    async with client_of(store, "read") as api:
        last = ok(
            await api.get(
                f"/agents/{agent_id}/activity", params={"cursor": str(newest_first[3]), "limit": 2}
            )
        )
        assert [w["run_id"] for w in last["recent"]] == [str(newest_first[4])]
        assert last["offset"] == 4
        back = ok(
            await api.get(
                f"/agents/{agent_id}/activity",
                params={"before": last["previous_cursor"], "limit": 2},
            )
        )
        assert [w["run_id"] for w in back["recent"]] == [str(r) for r in newest_first[2:4]]
    key = (await store.api_keys.create("viewer", scopes=["read"])).key
    transport = httpx.ASGITransport(app=app_for(store))
    async with httpx.AsyncClient(transport=transport, base_url="http://flightlog.test") as web:
        assert (await web.post("/login", data={"key": key})).status_code == 303
        first = await web.get(f"/agents/{agent_id}")
        assert f"1{DASH}5 of 5" in first.text
        assert 'rel="prev"' not in first.text
    many_id, many = await _agent_with_runs(store, 23, "busy")
    async with httpx.AsyncClient(transport=transport, base_url="http://flightlog.test") as web:
        assert (await web.post("/login", data={"key": key})).status_code == 303
        first = await web.get(f"/agents/{many_id}")
        assert f"1{DASH}20 of 23" in first.text
        older = re.search(r'rel="next" href="([^"]+)"', first.text)
        assert older
        second = await web.get(older.group(1).replace("&amp;", "&"))
        assert f"21{DASH}23 of 23" in second.text
        newer = re.search(r'rel="prev" href="([^"]+)"', second.text)
        assert newer
        again = await web.get(newer.group(1).replace("&amp;", "&"))
        assert f"1{DASH}20 of 23" in again.text
        assert str(many[0]) in again.text

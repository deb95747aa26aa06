"""The task page lists the task's agent runs, those recorded for the task alone included.

Seed 001 records agent steps on a task without a run (``agent_runs.start_for_task``);
no run page shows them, so the task page lists every agent run of the task by
start time, paged both ways with the total, each with the run it belongs to
(or "the task alone"). Another customer's agent run is never listed, and its id
as a cursor answers like any id that is none of this task's.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

from dashboard_browsing import html, row_ids, signed_in
from flightlog.store import Store
from test_dashboard_paging import expected_ranges, follow


def _after_now() -> datetime:
    """A start time after the run just started (by either database's clock), within the skew
    allowed for times ahead of now."""
    return datetime.now(UTC) + timedelta(seconds=2)


def _cells(page: str, agent_run_id: object) -> str:
    found = re.search(rf'<tr data-agent-run="{agent_run_id}">(.*?)</tr>', page, re.S)
    assert found, f"no row for agent run {agent_run_id}"
    return found.group(1)


async def test_the_task_page_shows_agent_runs_of_its_runs_and_of_the_task_alone(
    store: Store, other: Store
) -> None:
    task = await store.tasks.create(title="seed 001 steps")
    run = await store.runs.start(task.id)
    t0 = _after_now()
    lead = await store.agent_runs.start_for_task(
        task.id, agent_name="ProductManager", started_at=t0
    )
    engineer = await store.agent_runs.start(
        run.id, agent_name="Engineer", started_at=t0 + timedelta(minutes=1)
    )
    await store.agent_runs.finish(engineer.id, tokens_in=1200, tokens_out=34, cost_usd="0.5")
    theirs_task = await other.tasks.create(title="theirs")
    theirs = await other.agent_runs.start_for_task(theirs_task.id, agent_name="Intruder")

    async with signed_in(store) as browser:
        page = await html(browser, f"/tasks/{task.id}")
        assert row_ids(page, "agent-run") == [str(lead.id), str(engineer.id)]
        assert "ProductManager" in _cells(page, lead.id)
        assert "the task alone" in _cells(page, lead.id)
        in_run = _cells(page, engineer.id)
        assert f'href="/runs/{run.id}">#1</a>' in in_run
        assert "1,234" in in_run  # tokens in + out
        assert "Intruder" not in page
        assert "1\u20132 of 2" in page

        # Another customer's agent run as a cursor names nothing of theirs.
        refused = await browser.get(f"/tasks/{task.id}", params={"cursor": str(theirs.id)})
        assert refused.status_code == 422
        assert "Intruder" not in refused.text
        assert "none of this task's agent runs" in unescape(refused.text)

        empty_task = await store.tasks.create(title="no steps")
        empty = await html(browser, f"/tasks/{empty_task.id}")
        assert "No agent runs." in empty


async def test_a_tasks_agent_runs_page_both_ways_and_keep_the_events_place(
    store: Store,
) -> None:
    task = await store.tasks.create(title="many steps")
    run = await store.runs.start(task.id)
    t0 = _after_now()
    made = []
    for i in range(45):
        at = t0 + timedelta(seconds=i)
        if i % 3:
            made.append(await store.agent_runs.start(run.id, agent_name=f"a{i}", started_at=at))
        else:
            made.append(
                await store.agent_runs.start_for_task(task.id, agent_name=f"a{i}", started_at=at)
            )
    async with signed_in(store) as browser:
        forward, ranges, back = await follow(browser, f"/tasks/{task.id}", "agent-run")
        assert [i for page in forward for i in page] == [str(a.id) for a in made]
        assert ranges == expected_ranges(45, 20)
        assert back == list(reversed(forward[:-1]))

        second = await html(browser, f"/tasks/{task.id}", events_after=7)
        nxt = re.search(r'<a rel="next" href="([^"]*)"', second)
        assert nxt is not None
        assert "events_after=7" in nxt.group(1)
        assert f"cursor={made[19].id}" in nxt.group(1)

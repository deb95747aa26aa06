"""The run page's waterfall in a real Chromium against a real ``flightlog serve``, on SQLite
and PostgreSQL (issue 14, items 4 and 8): its rows are the data's steps in order and nesting,
the bars are laid out left to right in time, nothing scrolls sideways on a phone, and a step
another client starts appears in its place without a reload.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from browsing import PHONE, NewTab, Tab
from dashboards import Dashboard
from playwright.sync_api import expect

from flightlog.enums import EventType
from flightlog.store import SyncStore

LIVE_MS = 2000


def _nested_run(store: SyncStore) -> tuple[Any, list[tuple[uuid.UUID, int]]]:
    """A running run: a lead, five agents one after another, each with a tool step inside;
    the lead still running. Answers the run and its steps as (id, depth), depth first."""
    now = datetime.now(UTC)
    t0 = now - timedelta(minutes=20)
    task = store.tasks.create(title="Waterfall <in> the browser")
    run = store.runs.start(task.id, started_at=t0, plan={"steps": ["plan", "build", "check"]})
    lead = store.agent_runs.start(run.id, agent_name="Lead", started_at=t0 + timedelta(seconds=2))
    order = [(lead.id, 0)]
    for index in range(5):
        start = t0 + timedelta(minutes=1 + 3 * index)
        agent = store.agent_runs.start(
            run.id, agent_name=f"Agent {index}", parent_id=lead.id, started_at=start
        )
        tool = store.agent_runs.start(
            run.id,
            agent_name=f"Agent {index} / tool",
            parent_id=agent.id,
            started_at=start + timedelta(seconds=20),
        )
        store.agent_runs.finish(tool.id, finished_at=start + timedelta(seconds=50))
        store.agent_runs.finish(
            agent.id, finished_at=start + timedelta(minutes=2), tokens_in=1200, cost_usd="0.02"
        )
        order += [(agent.id, 1), (tool.id, 2)]
    return run, order


def _rows(tab: Tab) -> list[dict[str, Any]]:
    """Each waterfall row as laid out: its step, depth and the bar's left edge in pixels."""
    found: Any = tab.page.evaluate(
        """() => Array.from(document.querySelectorAll('li.wf-row[data-step]'))
            .filter((li) => li.dataset.step !== 'run')
            .map((li) => ({
              step: li.dataset.step,
              depth: Number(li.dataset.depth),
              x: li.querySelector('rect.wf-bar').getBoundingClientRect().left,
              label: li.querySelector('.wf-label').innerText,
            }))"""
    )
    return list(found)


def test_the_waterfall_shows_the_steps_in_order_nested_and_in_time(
    dashboard: Dashboard, tab: Tab, new_tab: NewTab
) -> None:
    run, order = _nested_run(dashboard.store)
    tab.sign_in(dashboard.seeded.read_key, f"/runs/{run.id}")
    rows = _rows(tab)
    assert [(row["step"], row["depth"]) for row in rows] == [(str(i), d) for i, d in order]
    xs = [row["x"] for row in rows]
    assert xs == sorted(xs), xs
    assert xs[-1] - xs[0] > 300  # spread over the track, not piled up at one edge
    assert "2m 00s" in rows[1]["label"]
    assert "1,200 tokens" in rows[1]["label"]
    expect(tab.page.locator("section.run-plan")).to_contain_text("build")
    assert tab.scroll_width_overflow() == 0
    tab.watch.assert_clean()

    phone = new_tab(viewport=PHONE)
    phone.sign_in(dashboard.seeded.read_key, f"/runs/{run.id}")
    assert phone.scroll_width_overflow() == 0, phone.widest_elements()
    assert [row["step"] for row in _rows(phone)] == [str(i) for i, _ in order]
    phone.watch.assert_clean()


def test_a_step_started_elsewhere_appears_in_its_place_without_reload(
    dashboard: Dashboard, tab: Tab
) -> None:
    store = dashboard.store
    run, order = _nested_run(store)
    lead_id = order[0][0]
    tab.sign_in(dashboard.seeded.read_key, f"/runs/{run.id}")
    tab.page.evaluate("window.__sameDocument = true")
    tab.page.wait_for_function("document.documentElement.hasAttribute('data-live-refreshed')")
    ticking = tab.page.locator(f'li[data-step="{lead_id}"] [data-since]')
    shown = ticking.inner_text()
    step = store.agent_runs.start(run.id, agent_name="Late agent", parent_id=lead_id)
    store.events.append(
        {
            "event_type": EventType.TOOL_CALL,
            "task_id": run.task_id,
            "run_id": run.id,
            "agent_run_id": step.id,
            "content": "late tool call",
        }
    )
    row = tab.page.locator(f'li.wf-row[data-step="{step.id}"]')
    expect(row).to_have_attribute("data-depth", "1", timeout=LIVE_MS)
    expect(row.locator("circle.wf-mark.m-tool")).to_have_count(1, timeout=LIVE_MS)
    assert [r["step"] for r in _rows(tab)][-1] == str(step.id)  # the latest start, last
    expect(ticking).not_to_have_text(shown, timeout=LIVE_MS)  # the lead's duration ticks
    assert tab.page.evaluate("window.__sameDocument === true"), "the page was reloaded"
    tab.watch.assert_clean()

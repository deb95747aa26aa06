"""The run page (issue 14 item 4): a waterfall of nested agent steps on one time axis, events
in their rows, errors expandable, the plan and its decision, and the timeline paged both ways.

The page is parsed, not searched for strings: rows, depths, bar positions and markers are
read from the attributes the template writes, on both dialects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from typing import Any

import httpx

from api_client import app_for
from flightlog.store import Store
from flightlog.web.format import duration
from timeline_seed import ROLES, SeededRun, seed_run

_VOID = {"br", "hr", "img", "input", "link", "meta"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    parent: Node | None = None
    #: Text and child elements in document order.
    content: list[str | Node] = field(default_factory=list)

    @property
    def children(self) -> list[Node]:
        return [c for c in self.content if isinstance(c, Node)]

    def text(self) -> str:
        parts = [c if isinstance(c, str) else c.text() for c in self.content]
        return " ".join(" ".join(parts).split())

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        found = []
        for child in self.children:
            if (tag is None or child.tag == tag) and all(
                _matches(child.attrs.get(k.rstrip("_").replace("_", "-")), v)
                for k, v in attrs.items()
            ):
                found.append(child)
            found.extend(child.find_all(tag, **attrs))
        return found

    def find(self, tag: str | None = None, **attrs: str) -> Node:
        found = self.find_all(tag, **attrs)
        assert found, (tag, attrs)
        return found[0]

    def up(self, tag: str) -> Node:
        node = self.parent
        while node is not None and node.tag != tag:
            node = node.parent
        assert node is not None, tag
        return node


def _matches(value: str | None, wanted: str) -> bool:
    if value is None:
        return False
    return wanted == "*" or value == wanted or wanted in value.split()


class _Tree(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("root", {})
        self.at = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, parent=self.at)
        self.at.content.append(node)
        if tag not in _VOID:
            self.at = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.at.content.append(Node(tag, {k: v or "" for k, v in attrs}, parent=self.at))

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.at
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.at = node.parent

    def handle_data(self, data: str) -> None:
        self.at.content.append(data)


def parse(html: str) -> Node:
    tree = _Tree()
    tree.feed(html)
    return tree.root


def _browser(store: Store) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app_for(store))
    return httpx.AsyncClient(transport=transport, base_url="http://flightlog.test")


async def _signed_in(store: Store, browser: httpx.AsyncClient) -> None:
    created = await store.api_keys.create("dashboard", scopes=["read"])
    signed = await browser.post("/login", data={"key": created.key})
    assert signed.status_code == 303


async def _page(browser: httpx.AsyncClient, path: str) -> tuple[str, Node]:
    response = await browser.get(path)
    assert response.status_code == 200, response.text[:2000]
    return response.text, parse(response.text)


def _rows(doc: Node) -> list[Node]:
    return [li for li in doc.find_all("li", class_="wf-row") if li.attrs["data-step"] != "run"]


def _expected_order(seeded: SeededRun) -> list[tuple[str, int]]:
    """Depth first, each level in start order: the order the waterfall promises."""
    children: dict[Any, list[Any]] = {}
    for step in seeded.steps:
        children.setdefault(step.parent, []).append(step)
    ordered: list[tuple[str, int]] = []

    def visit(parent: Any) -> None:
        for step in sorted(children.get(parent, []), key=lambda s: s.started_at):
            ordered.append((str(step.id), step.depth))
            visit(step.id)

    visit(None)
    return ordered


async def test_a_30_step_run_is_a_nested_waterfall_in_time(store: Store) -> None:
    seeded = await seed_run(store)
    async with _browser(store) as browser:
        await _signed_in(store, browser)
        html, doc = await _page(browser, f"/runs/{seeded.run_id}")
    rows = _rows(doc)
    assert len(rows) == len(seeded.steps) == 30
    assert [(r.attrs["data-step"], int(r.attrs["data-depth"])) for r in rows] == _expected_order(
        seeded
    )
    assert max(int(r.attrs["data-depth"]) for r in rows) == 3
    # Here depth first is also start order; bars move right as steps start later.
    starts = [datetime.fromisoformat(r.attrs["data-start"]) for r in rows]
    assert starts == sorted(starts)
    lefts = [float(r.attrs["data-left"]) for r in rows]
    assert lefts == sorted(lefts)
    assert lefts[0] < 1 < lefts[-1] < 100
    # The bar's left edge is where its start falls on the axis (run start to run end).
    by_id = {str(s.id): s for s in seeded.steps}
    span = max(s.finished_at for s in seeded.steps if s.finished_at) - seeded.started_at
    for row in rows:
        step = by_id[row.attrs["data-step"]]
        share = (step.started_at - seeded.started_at) / span * 100
        assert abs(float(row.attrs["data-left"]) - share) < 1.0, step.name
        width = float(row.attrs["data-width"])
        assert step.finished_at is not None
        assert abs(width - (step.finished_at - step.started_at) / span * 100) < 1.0
        label = row.find("div", class_="wf-label").text()
        assert step.name in label
        assert duration((step.finished_at - step.started_at).total_seconds()) in label
        assert row.find("svg", role="img").attrs["aria-label"].startswith(step.name)
    labels = {r.attrs["data-step"]: r.find("div", class_="wf-label").text() for r in rows}
    architect = next(s for s in seeded.steps if s.name == "Architect")
    assert "2m 10s" in labels[str(architect.id)]
    assert "1,500 tokens" in labels[str(architect.id)]  # 1,100 in + 400 out
    assert "$0.01" in labels[str(architect.id)]
    assert "0.0s" not in html
    ticks = [t.text() for t in doc.find("div", class_="wf-axis").find_all("text")]
    assert ticks[:3] == ["0s", "5m", "10m"]
    assert [int(r.attrs["data-depth"]) for r in rows[:4]] == [0, 1, 2, 3]
    assert doc.find("div", class_="run-page").attrs["data-live-run"] == str(seeded.run_id)
    regions = {n.attrs["data-live-region"] for n in doc.find_all(data_live_region="*")}
    assert {"run-header", "run-waterfall", "run-entries", "run-plan"} <= regions


async def test_events_sit_in_their_steps_row_and_errors_expand(store: Store) -> None:
    seeded = await seed_run(store)
    async with _browser(store) as browser:
        await _signed_in(store, browser)
        html, doc = await _page(browser, f"/runs/{seeded.run_id}")
    placed = 0
    for mark in doc.find_all("circle", class_="wf-mark"):
        title = mark.find("title").text()
        content = title.split(": ", 1)[1] if ": " in title else ""
        if content not in seeded.events:
            continue
        row = mark.up("li")
        expected = seeded.events[content]
        assert row.attrs["data-step"] == (str(expected) if expected else "run"), content
        if expected is not None:
            assert float(row.attrs["data-left"]) <= float(mark.attrs["data-left"]) + 0.01
        placed += 1
    assert placed == len(seeded.events)
    kinds = {m.attrs["class"] for m in doc.find_all("circle", class_="wf-mark")}
    assert {"wf-mark m-tool", "wf-mark m-model", "wf-mark m-error", "wf-mark m-warning"} <= kinds
    failed = doc.find("li", data_step=str(seeded.failed_step))
    assert failed.attrs["data-status"] == "FAILED"
    assert failed.find("rect").attrs["class"].startswith("wf-bar bar-FAILED")
    details = failed.find_all("details", class_="wf-error")
    assert details[0].find("pre").text() == seeded.error_text
    assert any("crashed: <boom>" in d.find("summary").text() for d in details)
    assert "pytest: 3 failed &lt;AssertionError&gt;" in html
    assert "<boom>" not in html
    assert "<AssertionError>" not in html
    # The table lists the same page in time order, a step's start before its own events.
    entries = doc.find("table", class_="entries").find("tbody").find_all("tr")
    times = [datetime.fromisoformat(tr.attrs["data-at"]) for tr in entries]
    assert times == sorted(times)
    position = {(tr.attrs["data-kind"], tr.attrs["data-id"]): i for i, tr in enumerate(entries)}
    for i, tr in enumerate(entries):
        if tr.attrs["data-kind"] == "event" and "AGENT_START" in tr.text():
            link = entries[i - 1].find("a")
            assert entries[i - 1].attrs["data-kind"] == "agent_run"
            assert link.attrs["href"] == f"#step-{entries[i - 1].attrs['data-id']}"
    assert len(position) == len(entries)
    assert all(th.attrs.get("scope") == "col" for th in doc.find_all("th"))
    assert doc.find("table", class_="entries").up("div").attrs["class"] == "table-wrap"


async def test_the_plan_is_readable_escaped_and_says_who_decided(store: Store) -> None:
    seeded = await seed_run(store, finish=False)
    task = await store.tasks.create(title="decided")
    plan = {"steps": ["design <api>", "build", {"agent": "QA", "checks": ["unit", "e2e"]}]}
    run = await store.runs.start(task.id, plan=plan, await_plan_approval=True)
    await store.runs.approve_plan(run.id, decided_by="dana", comment="go <now>")
    async with _browser(store) as browser:
        await _signed_in(store, browser)
        html, doc = await _page(browser, f"/runs/{seeded.run_id}")
        decided_html, decided = await _page(browser, f"/runs/{run.id}")
    section = doc.find("section", class_="run-plan")
    assert [dt.text() for dt in section.find_all("dt")][:2] == ["goal", "steps"]
    steps = section.find("ol", class_="plan-ol").find_all("li")
    assert len(steps) == len(ROLES)
    assert "Ship sharing &lt;with&gt; reminders" in html
    assert "<with>" not in html
    plan_section = decided.find("section", class_="run-plan")
    assert plan_section.find("span", class_="badge").text() == "APPROVED"
    assert "Approved by dana" in plan_section.find("p", class_="plan-decision").text()
    assert plan_section.find("blockquote").text() == "go <now>"
    assert "go &lt;now&gt;" in decided_html
    items = [li.text() for li in plan_section.find("ol", class_="plan-ol").find_all("li")]
    assert items[:2] == ["design <api>", "build"]
    # A run still going: its running steps and the run's duration tick in the browser.
    running = [r for r in _rows(doc) if r.find_all("span", data_since="*")]
    assert {r.find("span", class_="wf-name").text() for r in running} == {
        "TeamLeader",
        "Release",
        "Release/git",
    }
    assert all(float(r.attrs["data-left"]) + float(r.attrs["data-width"]) > 99 for r in running)
    header = doc.find("section", data_live_region="run-header")
    assert header.find_all("span", data_since="*")


def _links(doc: Node) -> dict[str, str]:
    nav = doc.find("section", data_live_region="run-entries").find("nav", class_="pager")
    return {re.sub(r"[^A-Za-z]", "", a.text()): a.attrs["href"] for a in nav.find_all("a")}


def _entry_ids(doc: Node) -> list[str]:
    body = doc.find("table", class_="entries").find("tbody")
    return [tr.attrs["data-id"] for tr in body.find_all("tr")]


async def test_the_timeline_pages_forward_then_back_to_the_first_page(store: Store) -> None:
    seeded = await seed_run(store)
    async with _browser(store) as browser:
        await _signed_in(store, browser)
        _, doc = await _page(browser, f"/runs/{seeded.run_id}?limit=25")
        total = int(re.sub(r"\D", "", doc.find("nav", class_="pager").text().split(" of ")[1]))
        assert total > 100
        pages = [_entry_ids(doc)]
        assert set(_links(doc)) == {"Newer", "Newest"}
        while "Newer" in _links(doc):
            _, doc = await _page(browser, _links(doc)["Newer"])
            pages.append(_entry_ids(doc))
        assert sum(len(p) for p in pages) == total
        assert len({i for p in pages for i in p}) == total
        assert "Newest" not in _links(doc)
        back = [pages[-1]]
        while "Older" in _links(doc):
            _, doc = await _page(browser, _links(doc)["Older"])
            back.append(_entry_ids(doc))
        assert back == pages[::-1]
        assert set(_links(doc)) == {"Newer", "Newest"}
        _, newest = await _page(browser, _links(doc)["Newest"])
        assert _entry_ids(newest)[-1] == pages[-1][-1]
        # Later pages still nest their steps: a step's row shows, though it began earlier.
        middle = await browser.get(f"/runs/{seeded.run_id}", params={"limit": 25, "page": "newest"})
        context = [r for r in _rows(parse(middle.text)) if "wf-context" in r.attrs["class"]]
        assert context
        assert any(r.attrs["data-depth"] == "0" for r in context)  # the leader, from page 1


async def test_another_customers_run_is_a_404_page_and_bad_cursors_a_422(
    store: Store, other: Store
) -> None:
    theirs = await seed_run(other, title="Their secret run")
    ours = await seed_run(store)
    async with _browser(store) as browser:
        await _signed_in(store, browser)
        missing = await browser.get(f"/runs/{theirs.run_id}")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("text/html")
        assert "Their secret run" not in missing.text
        assert "TeamLeader" not in missing.text
        for params in (
            {"after_kind": "event"},
            {"after_at": "2026-01-01T00:00:00+00:00", "after_kind": "event", "after_key": "x"},
            {"after_at": "2026-01-01T00:00:00", "after_kind": "event", "after_key": "1"},
            {"limit": "0"},
        ):
            refused = await browser.get(f"/runs/{ours.run_id}", params=params)
            assert refused.status_code == 422, params
            assert refused.headers["content-type"].startswith("text/html")


async def test_empty_queued_waiting_and_abandoned_runs_render(store: Store) -> None:
    queued = await store.runs.enqueue((await store.tasks.create(title="queued")).id)
    waiting_task = await store.tasks.create(title="waiting")
    waiting = await store.runs.start(waiting_task.id, plan={}, await_plan_approval=True)
    abandoned_task = await store.tasks.create(title="abandoned")
    abandoned = await store.runs.start(abandoned_task.id)
    step = await store.agent_runs.start(abandoned.id, agent_name="Dropped")
    await store.runs.fail(abandoned.id, error_message="worker lost")
    async with _browser(store) as browser:
        await _signed_in(store, browser)
        _, empty = await _page(browser, f"/runs/{queued.id}")
        assert not _rows(empty)
        assert "queued" in empty.find("section", class_="run-head").text()  # no start time yet
        assert empty.find("li", data_step="run").find_all("circle")  # its STATUS_CHANGE
        waiting_html, pending = await _page(browser, f"/runs/{waiting.id}")
        assert "Waiting for a person" in pending.find("section", class_="run-plan").text()
        assert "(empty)" in waiting_html
        _, gone = await _page(browser, f"/runs/{abandoned.id}")
    [row] = _rows(gone)
    assert row.attrs["data-step"] == str(step.id)
    assert "never finished" in row.text()
    assert not row.find_all("span", data_since="*")  # the run is over: nothing ticks
    assert gone.find("details", id="run-error").find("pre").text() == "worker lost"

"""The dashboard's charts: /insights and /metrics draw exactly the customer's aggregates.

Each chart's numbers are a JSON island the page carries (``charts.js`` draws it with
the vendored uPlot); these tests read the islands and the tables beside them
against work with known costs, outcomes, durations and metric points
(``charts_data``), with another customer's same work in the same database.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from api_client import app_for
from charts_data import DAY, day_start, seed, seed_metrics
from flightlog.store import Store
from flightlog.web import STATIC_DIR

_ISLAND = re.compile(r'<script type="application/json" id="([\w-]+)">(.*?)</script>', re.S)


def _browser(store: Store) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app_for(store))
    return httpx.AsyncClient(transport=transport, base_url="http://flightlog.test")


@asynccontextmanager
async def _signed_in(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    """A browser signed in with a read key of the store's customer."""
    key = (await store.api_keys.create("charts", scopes=["read"])).key
    async with _browser(store) as browser:
        signed = await browser.post("/login", data={"key": key, "next": "/"})
        assert signed.status_code == 303, signed.text
        yield browser


def _islands(html: str) -> dict[str, Any]:
    return {name: json.loads(text) for name, text in _ISLAND.findall(html)}


def _series(chart: dict[str, Any]) -> dict[str, list[Any]]:
    return {s["label"]: s["values"] for s in chart["series"]}


def _nonzero(chart: dict[str, Any], label: str) -> dict[float, Any]:
    """A series' values by x, the empty windows left out."""
    return {x: v for x, v in zip(chart["x"], _series(chart)[label], strict=True) if v}


async def _page(browser: httpx.AsyncClient, path: str, **params: str) -> str:
    answer = await browser.get(path, params=params)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    return answer.text


async def test_the_insights_islands_hold_the_customers_aggregates(
    store: Store, other: Store
) -> None:
    base = day_start(5)
    await seed(store, base)
    await seed(other, base)  # the same work of another customer must not double anything
    day0, day1 = base.timestamp(), (base + DAY).timestamp()
    async with _signed_in(store) as browser:
        html = await _page(browser, "/insights")
        charts = _islands(html)
        assert set(charts) == {
            "chart-cost",
            "chart-tokens",
            "chart-outcomes",
            "chart-success",
            "chart-durations",
        }
        cost = charts["chart-cost"]
        assert len(cost["x"]) == 30  # the last 30 days, a window a day
        assert list(_series(cost)) == ["Alice", "Bob"]  # costliest first
        assert _nonzero(cost, "Alice") == {day0: 0.1, day1: 0.21}
        assert _nonzero(cost, "Bob") == {day0: 0.05}
        tokens = charts["chart-tokens"]
        assert (_nonzero(tokens, "Alice"), _nonzero(tokens, "Bob")) == (
            {day0: 150, day1: 315},
            {day0: 60},
        )
        outcomes = charts["chart-outcomes"]
        assert outcomes["kind"] == "stacked"
        assert [
            _nonzero(outcomes, k) for k in ("Completed", "Failed", "Timed out", "Cancelled")
        ] == [
            {day0: 1},
            {day1: 1},
            {day1: 1},
            {day1: 1},
        ]
        rates = dict(
            zip(
                charts["chart-success"]["x"],
                _series(charts["chart-success"])["Success rate"],
                strict=True,
            )
        )
        assert {x: r for x, r in rates.items() if r is not None} == {day0: 100.0, day1: 0.0}
        durations = charts["chart-durations"]
        labels = durations["xLabels"]
        assert (labels[0], labels[-1]) == ("under 1s", "1h and more")
        by_label = {
            name: {labels[i]: v for i, v in enumerate(values) if v}
            for name, values in _series(durations).items()
        }
        assert by_label == {
            "Completed": {"1h and more": 1},
            "Failed or timed out": {"under 1s": 1, "30s\u20131m": 1},
            "Cancelled": {"2m\u20135m": 1},
        }
        # The same numbers are readable without the script: the tables and the cards.
        assert "$0.36" in html  # the customer's cost in the range, not doubled
        assert '<th scope="row">under 1s</th>' in html
        assert html.count('<details class="chart-table">') == 3

        by_project = _islands(await _page(browser, "/insights", by="project"))["chart-cost"]
        assert list(_series(by_project)) == ["(no project)", "Atlas"]
        assert _nonzero(by_project, "Atlas") == {day0: 0.15}

        week = _islands(await _page(browser, "/insights", range="7d"))["chart-tokens"]
        assert len(week["x"]) == 28  # 6-hour windows
        assert sum(sum(v) for v in _series(week).values()) == 525
        assert (await browser.get("/insights", params={"range": "1y"})).status_code == 422


async def test_insights_of_a_quiet_range_or_a_new_customer_say_so(store: Store) -> None:
    async with _signed_in(store) as browser:
        html = await _page(browser, "/insights")
        assert _islands(html) == {}
        assert "No agent has run in this time range" in html
        assert "No run finished in this time range" in html
        assert "No finished run with a measured duration" in html
        await seed(store, day_start(5))
        day = await _page(browser, "/insights", range="24h")
        assert _islands(day) == {}
        assert "the last 30 days" in day  # a link to a range that has something


async def test_the_metric_explorer_shows_a_series_by_label_set(store: Store) -> None:
    seeded = await seed(store, day_start(5))
    await seed_metrics(store, seeded)
    async with _signed_in(store) as browser:
        html = await _page(browser, "/metrics")  # the first name, its latest run
        assert '<option value="latency_ms" selected>' in html
        assert '<option value="queue_depth">' in html
        chart = _islands(html)["chart-metric"]
        assert chart["unit"] == "ms"
        assert len(chart["x"]) == 3
        assert _series(chart) == {
            "role=planner": [120.0, None, 80.0],
            "role=coder": [None, 300.0, None],
        }
        summary = html.split('class="metric-summary"', 1)[1].split("</table>", 1)[0]
        cells = re.findall(r'<td class="num">([^<]*)</td>', summary)
        assert cells[:5] == ["3", "80", "300", "166.67", "80"]  # count, min, max, avg, last
        assert f"/metrics?name=latency_ms&amp;run_id={seeded.first_run}" in html
        by_task = await _page(
            browser, "/metrics", name="latency_ms", task_id=str(seeded.project_task)
        )
        assert len(_islands(by_task)["chart-metric"]["x"]) == 3
        queue = _islands(await _page(browser, "/metrics", name="queue_depth"))["chart-metric"]
        assert _series(queue) == {"(no labels)": [7.0]}


async def test_no_metrics_yet_is_a_helpful_page(store: Store) -> None:
    async with _signed_in(store) as browser:
        html = await _page(browser, "/metrics")
        assert "No metric points yet" in html
        assert _islands(html) == {}
        assert (await browser.get("/metrics", params={"name": "latency_ms"})).status_code == 404


async def test_another_customers_metrics_never_show(store: Store, other: Store) -> None:
    mine = await seed(store, day_start(5))
    await seed_metrics(store, mine)
    theirs = await seed(other, day_start(5))
    await other.metrics.record_batch(
        [{"name": "their_secret", "value": 1, "task_id": theirs.loose_task, "labels": {"k": "x"}}]
    )
    async with _signed_in(store) as browser:
        html = await _page(browser, "/metrics")
        assert "their_secret" not in html
        for params in (
            {"name": "their_secret"},
            {"name": "latency_ms", "task_id": str(theirs.project_task)},
            {"name": "latency_ms", "run_id": str(theirs.first_run)},
            {"name": "latency_ms", "run_id": str(uuid.uuid4())},
        ):
            refused = await browser.get("/metrics", params=params)
            assert refused.status_code == 404, params
            assert refused.headers["content-type"].startswith("text/html")
            assert "k=x" not in refused.text  # (the name asked for is echoed, nothing else)
            assert "Map the coast" not in refused.text


async def test_pages_need_a_sign_in(store: Store) -> None:
    async with _browser(store) as browser:
        for path in ("/insights", "/metrics"):
            answer = await browser.get(path)
            assert answer.status_code == 303
            assert answer.headers["location"] == f"/login?next={path}"


async def test_the_chart_library_is_served_by_flightlog_itself(store: Store) -> None:
    seeded = await seed(store, day_start(5))
    await seed_metrics(store, seeded)
    async with _signed_in(store) as browser:
        for path in ("/insights", "/metrics"):
            html = await _page(browser, path)
            assert not re.search(r"https?://", html), path  # nothing from elsewhere
            assert "<script>" not in html  # no inline code: data islands only
            for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
                served = await browser.get(asset)
                assert served.status_code == 200, asset
            assert '/static/vendor/uplot/uPlot.iife.min.js"' in html
            assert '/static/charts.js"' in html
        library = await browser.get("/static/vendor/uplot/uPlot.iife.min.js")
        assert "javascript" in library.headers["content-type"]
        assert "uPlot" in library.text[:2000]
    vendored = STATIC_DIR / "vendor" / "uplot"
    assert "MIT" in (vendored / "LICENSE").read_text()
    assert "version: 1.6.32" in (vendored / "VERSION").read_text()

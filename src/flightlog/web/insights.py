"""Charts: cost, tokens, run outcomes and durations over time (/insights), and a metric
explorer (/metrics).

The numbers come from the Store operations the API serves (``store.views.usage``,
``run_outcomes``, ``run_durations``; ``store.metrics.names``, ``sources``, ``series``,
``summarize``), shaped by :mod:`flightlog.web.chart_data`; with a columnar sink
configured, the heavy ones (usage by agent, outcomes, durations, metric names) come
from it while it is fresh, with the same numbers (:mod:`flightlog.web.sink_reads`).
Each chart's data is a JSON island that ``static/charts.js`` draws with the vendored
uPlot, and the same numbers are in a table beside it, so the page reads without
JavaScript and to a screen reader.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from flightlog.errors import NotFound
from flightlog.services.insights import UsageBy
from flightlog.web import sink_reads
from flightlog.web.chart_data import (
    DEFAULT_RANGE,
    RANGES,
    RangeKey,
    bin_label,
    duration_chart,
    group_name,
    label_sets,
    label_text,
    metric_chart,
    outcome_charts,
    usage_charts,
)
from flightlog.web.session import DashboardStore, page

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

#: The most points of one series a metric page draws (the first ones, in time order).
MAX_POINTS = 5000
#: The latest points listed in the metric page's table.
TABLE_POINTS = 20


@router.get("/insights")
async def insights(
    request: Request,
    store: DashboardStore,
    span: Annotated[RangeKey, Query(alias="range")] = DEFAULT_RANGE,
    by: UsageBy = "agent",
) -> Response:
    """Cost and tokens per agent or project, run outcomes and durations, over a time range."""
    chosen = RANGES[span]
    now = datetime.now(UTC)
    since = chosen.since(now)
    starts = chosen.starts(now)
    width, buckets = chosen.bucket_seconds, chosen.buckets
    # From the columnar sink when one is configured and fresh (docs/sink.md), else the database.
    usage_rows = await sink_reads.usage(
        request, store, since=since, bucket_seconds=width, buckets=buckets, by=by
    )
    outcome_rows = await sink_reads.run_outcomes(
        request, store, since=since, bucket_seconds=width, buckets=buckets
    )
    bins = await sink_reads.run_durations(request, store, since=since)
    usage = usage_charts(usage_rows, starts)
    outcomes = outcome_charts(outcome_rows, starts)
    return page(
        request,
        "insights.html",
        {
            "nav": "insights",
            "ranges": RANGES.values(),
            "range": chosen,
            "by": by,
            "since": since,
            "usage": usage,
            "usage_rows": usage_rows,
            "group_name": group_name,
            "outcomes": outcomes,
            "outcome_rows": outcome_rows,
            "bins": bins,
            "bin_label": bin_label,
            "durations": duration_chart(bins),
            "has_durations": any(b.runs for b in bins),
            "aggregates_from": getattr(request.state, "aggregates_from", sink_reads.DATABASE),
            "sink_lag_seconds": getattr(request.state, "sink_lag_seconds", None),
        },
    )


@router.get("/metrics")
async def metrics(
    request: Request,
    store: DashboardStore,
    name: Annotated[str | None, Query(max_length=255)] = None,
    task_id: uuid.UUID | None = None,
    run_id: uuid.UUID | None = None,
) -> Response:
    """Pick a metric name, then a task or run that recorded it: its series by label set."""
    names = await sink_reads.metric_names(request, store)
    if name is not None and name not in {n.name for n in names}:
        names = await store.metrics.names()  # recorded since the sink's last copy: not a 404
    context: dict[str, object] = {"nav": "metrics", "names": names, "name": name}
    if not names and name is None:
        return page(request, "metrics.html", context)
    chosen = name if name is not None else names[0].name
    if chosen not in {n.name for n in names}:
        raise NotFound(f"no metric named {chosen!r} was recorded")
    sources = await store.metrics.sources(chosen)
    if not sources:
        raise NotFound(f"no metric named {chosen!r} was recorded")
    if task_id is None and run_id is None:
        # Neither picked: the run (or task) with the longest series, the latest of equals.
        richest = max(sources, key=lambda s: (s.points, s.last_recorded_at))
        task_id, run_id = (None, richest.run_id) if richest.run_id else (richest.task_id, None)
    # Another customer's task or run is NotFound here, which is the 404 page.
    points = await store.metrics.series(chosen, task_id=task_id, run_id=run_id, limit=MAX_POINTS)
    summary = (await store.metrics.summarize(task_id=task_id, run_id=run_id, names=[chosen])).get(
        chosen
    )
    unit = next((n.unit for n in names if n.name == chosen), None)
    sets = label_sets(points)
    context.update(
        {
            "name": chosen,
            "unit": unit,
            "sources": sources,
            "task_id": task_id,
            "run_id": run_id,
            "points": points,
            "latest": points[-TABLE_POINTS:][::-1],
            "truncated": summary is not None and summary.count > len(points),
            "summary": summary,
            "sets": sets,
            "label_text": label_text,
            "chart": metric_chart(sets, unit),
        }
    )
    return page(request, "metrics.html", context)

"""The numbers a chart draws, shaped for ``static/charts.js`` and for the table beside it.

The services answer sparse rows (only windows with something in them); a chart
wants one value per window for every series, so this fills the gaps with zeros,
keeps the groups that matter most apart (the rest are summed as "(others)"), and
writes durations' bins as words. Everything here is plain data: the page puts
it in a ``<script type="application/json">`` island (no inline code) and in tables.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from flightlog.models import MetricPoint
from flightlog.services.insights import DurationBin, OutcomeBucket, UsageBucket

#: How many agents or projects a usage chart draws apart; the rest are one "(others)" series.
MAX_GROUPS = 7
OTHER = "(others)"
NO_PROJECT = "(no project)"

Format = Literal["usd", "count", "percent", "number"]


@dataclass(frozen=True)
class Range:
    """A time range people pick, and the window width that gives it a readable number of bars."""

    key: str
    label: str
    buckets: int
    bucket_seconds: int
    window: str

    def since(self, now: datetime) -> datetime:
        """The start of the first window: ``buckets`` windows end with the one holding ``now``,
        aligned to the window width in UTC (whole hours, 00/06/12/18 h, midnights)."""
        seconds = int(now.timestamp()) // self.bucket_seconds * self.bucket_seconds
        first = seconds - (self.buckets - 1) * self.bucket_seconds
        return datetime.fromtimestamp(first, tz=UTC)

    def starts(self, now: datetime) -> list[datetime]:
        since = self.since(now)
        return [since + timedelta(seconds=i * self.bucket_seconds) for i in range(self.buckets)]


RANGES = {
    "24h": Range("24h", "Last 24 hours", 24, 3600, "an hour"),
    "7d": Range("7d", "Last 7 days", 28, 6 * 3600, "6 hours"),
    "30d": Range("30d", "Last 30 days", 30, 86_400, "a day"),
}
RangeKey = Literal["24h", "7d", "30d"]
#: Wide enough to show demo data recorded over past days.
DEFAULT_RANGE: RangeKey = "30d"


def chart(
    x: Sequence[float],
    series: Iterable[tuple[str, Sequence[float | None]]],
    *,
    fmt: Format,
    kind: Literal["lines", "bars", "stacked"] = "lines",
    x_labels: Sequence[str] | None = None,
    unit: str | None = None,
    colors: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A chart as ``charts.js`` reads it: ``x`` in epoch seconds (or 0..n-1 with ``x_labels``).

    ``colors`` gives series a colour that means something (failed is red); the others
    take the script's palette in order.
    """
    spec: dict[str, Any] = {
        "kind": kind,
        "format": fmt,
        "x": list(x),
        "series": [
            {"label": label, "values": list(values)}
            | ({"color": colors[label]} if colors and label in colors else {})
            for label, values in series
        ],
    }
    if x_labels is not None:
        spec["xLabels"] = list(x_labels)
    if unit:
        spec["unit"] = unit
    return spec


def epoch(moment: datetime) -> float:
    return moment.timestamp()


@dataclass(frozen=True)
class UsageCharts:
    cost: dict[str, Any]
    tokens: dict[str, Any]
    groups: list[str]
    total_cost: Decimal
    total_tokens: int
    agent_runs: int


def group_name(bucket: UsageBucket) -> str:
    return bucket.group if bucket.group is not None else NO_PROJECT


def usage_charts(rows: Sequence[UsageBucket], starts: Sequence[datetime]) -> UsageCharts:
    """Cost and tokens per window, one series per group (the costliest first)."""
    spent: dict[str, Decimal] = defaultdict(Decimal)
    used: dict[str, int] = defaultdict(int)
    for row in rows:
        spent[group_name(row)] += row.cost_usd
        used[group_name(row)] += row.tokens_in + row.tokens_out
    ranked = sorted(spent, key=lambda g: (-spent[g], -used[g], g))
    # An "other" series of one group would hide its name for nothing.
    kept = ranked if len(ranked) <= MAX_GROUPS + 1 else ranked[:MAX_GROUPS]
    groups = kept + ([OTHER] if len(ranked) > len(kept) else [])
    index = {start: i for i, start in enumerate(starts)}
    cost = {g: [0.0] * len(starts) for g in groups}
    tokens = {g: [0] * len(starts) for g in groups}
    for row in rows:
        name = group_name(row)
        series = name if name in kept else OTHER
        i = index[row.start]
        cost[series][i] = round(cost[series][i] + float(row.cost_usd), 6)
        tokens[series][i] += row.tokens_in + row.tokens_out
    x = [epoch(s) for s in starts]
    return UsageCharts(
        cost=chart(x, [(g, cost[g]) for g in groups], fmt="usd"),
        tokens=chart(x, [(g, tokens[g]) for g in groups], fmt="count"),
        groups=groups,
        total_cost=sum((r.cost_usd for r in rows), Decimal(0)),
        total_tokens=sum(r.tokens_in + r.tokens_out for r in rows),
        agent_runs=sum(r.agent_runs for r in rows),
    )


#: Outcome colours, the waterfall's (static/flightlog.css): green, red, amber, grey.
OUTCOME_COLORS = {
    "Completed": "#2f9e58",
    "Failed": "#d0342c",
    "Failed or timed out": "#d0342c",
    "Timed out": "#c47f00",
    "Cancelled": "#8d98a9",
}

OUTCOMES = (
    ("completed", "Completed"),
    ("failed", "Failed"),
    ("timed_out", "Timed out"),
    ("cancelled", "Cancelled"),
)


@dataclass(frozen=True)
class OutcomeCharts:
    runs: dict[str, Any]
    success: dict[str, Any]
    finished: int
    success_rate: float | None


def outcome_charts(rows: Sequence[OutcomeBucket], starts: Sequence[datetime]) -> OutcomeCharts:
    """Finished runs per window by outcome (stacked), and each window's success rate."""
    index = {start: i for i, start in enumerate(starts)}
    counts = {key: [0] * len(starts) for key, _ in OUTCOMES}
    rate: list[float | None] = [None] * len(starts)
    for row in rows:
        i = index[row.start]
        for key, _ in OUTCOMES:
            counts[key][i] = getattr(row, key)
        rate[i] = row.success_rate
    x = [epoch(s) for s in starts]
    ok = sum(r.completed for r in rows)
    bad = sum(r.failed + r.timed_out for r in rows)
    return OutcomeCharts(
        runs=chart(
            x,
            [(label, counts[key]) for key, label in OUTCOMES],
            fmt="count",
            kind="stacked",
            colors=OUTCOME_COLORS,
        ),
        success=chart(x, [("Success rate", rate)], fmt="percent"),
        finished=sum(r.completed + r.failed + r.timed_out + r.cancelled for r in rows),
        success_rate=round(100.0 * ok / (ok + bad), 1) if ok + bad else None,
    )


def _seconds(value: float) -> str:
    whole = int(value)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m"
    return f"{whole // 3600}h"


def bin_label(bin: DurationBin) -> str:
    """``under 1s``, ``1s-5s``, ``30s-1m``, ``1h and more``."""
    if bin.high_seconds is None:
        return f"{_seconds(bin.low_seconds)} and more"
    if bin.low_seconds == 0:
        return f"under {_seconds(bin.high_seconds)}"
    return f"{_seconds(bin.low_seconds)}\u2013{_seconds(bin.high_seconds)}"


def duration_chart(bins: Sequence[DurationBin]) -> dict[str, Any]:
    """Runs per duration bin, completed / failed / other stacked."""
    other = [b.runs - b.completed - b.failed for b in bins]
    spec = chart(
        list(range(len(bins))),
        [
            ("Completed", [b.completed for b in bins]),
            ("Failed or timed out", [b.failed for b in bins]),
            ("Cancelled", other),
        ],
        fmt="count",
        kind="stacked",
        x_labels=[bin_label(b) for b in bins],
        colors=OUTCOME_COLORS,
    )
    spec["xTitle"] = "Duration"
    return spec


@dataclass(frozen=True)
class LabelSet:
    """One line of a metric chart: the points that share a label set, and their summary."""

    key: str
    text: str
    points: list[MetricPoint]

    @property
    def values(self) -> list[float]:
        return [p.value for p in self.points]


def label_text(labels: dict[str, Any]) -> str:
    if not labels:
        return "(no labels)"
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))


def label_sets(points: Sequence[MetricPoint]) -> list[LabelSet]:
    """The series' points by label set, in the order each set first appears."""
    found: dict[str, LabelSet] = {}
    for point in points:
        labels = point.labels or {}
        key = json.dumps(labels, sort_keys=True, default=str)
        if key not in found:
            found[key] = LabelSet(key, label_text(labels), [])
        found[key].points.append(point)
    return list(found.values())


def metric_chart(sets: Sequence[LabelSet], unit: str | None) -> dict[str, Any]:
    """One line per label set over the union of their times (gaps where a set has no point)."""
    times = sorted({epoch(p.recorded_at) for s in sets for p in s.points})
    index = {t: i for i, t in enumerate(times)}
    series = []
    for label_set in sets:
        values: list[float | None] = [None] * len(times)
        for point in label_set.points:
            values[index[epoch(point.recorded_at)]] = point.value
        series.append((label_set.text, values))
    return chart(times, series, fmt="number", unit=unit)

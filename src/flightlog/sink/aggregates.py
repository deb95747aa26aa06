"""The dashboard's heavy aggregates, answered by the sink with the database's own results.

Each function is the columnar twin of a service (:mod:`flightlog.services.insights`,
:mod:`flightlog.services.metrics`): same parameters, same checks (the services'
own), same result classes, and the same windows, because ClickHouse counts whole
seconds since the window's origin exactly as ``_dialect.bucket_after`` does on
both dialects. Rows are read ``FINAL`` (one version per id, deleted ones left
out) and scoped by ``customer_id``, which the sink copied from each row's task.
Averages of float metrics are the one figure that may differ from the
database's in the last bits (sums taken in another order).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from flightlog.enums import RunStatus
from flightlog.errors import ValidationError
from flightlog.services import insights
from flightlog.services._common import require
from flightlog.services.insights import DurationBin, OutcomeBucket, UsageBucket
from flightlog.services.metrics import MAX_NAMES, MetricBucket, MetricName, MetricSummary
from flightlog.sink import derived
from flightlog.sink.backend import NotHeld, SinkBackend
from flightlog.sink.schema import METRIC_FLOOR
from flightlog.sink.statements import (
    READ,
    TIME,
    ParamValue,
    Statement,
    read_with,
    status_list,
    time_text,
)

_CENTS = Decimal("0.000001")


def _moment(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)


def _windowed(column: str) -> str:
    return f"{column} >= {{start:{TIME}}} AND {column} < {{end:{TIME}}}"


def usage_statement(
    database: str, customer_id: uuid.UUID, *, start: datetime, end: datetime, bucket_seconds: int
) -> Statement:
    return Statement(
        "SELECT intDiv(toInt64(toUnixTimestamp(time)) - {origin:Int64}, {width:UInt32}) AS bucket,"
        " agent_name, count(), sum(tokens_in), sum(tokens_out), sum(cost_usd)"
        f" FROM {database}.agent_runs FINAL"
        f" WHERE customer_id = {{customer:UUID}} AND {_windowed('time')}"
        f" GROUP BY bucket, agent_name {READ}",
        {
            "origin": int(start.timestamp()),
            "width": bucket_seconds,
            "customer": str(customer_id),
            "start": time_text(start),
            "end": time_text(end),
        },
    )


def usage(
    backend: SinkBackend,
    customer_id: uuid.UUID,
    *,
    since: datetime,
    bucket_seconds: int = 86_400,
    buckets: int = 30,
) -> list[UsageBucket]:
    """:func:`flightlog.services.insights.usage` with ``by="agent"``, from the sink."""
    start, end = insights._window(since, bucket_seconds, buckets)
    rows = backend.select(
        usage_statement(
            backend.url.database, customer_id, start=start, end=end, bucket_seconds=bucket_seconds
        )
    )
    found = [
        UsageBucket(
            start=start + timedelta(seconds=int(index) * bucket_seconds),
            group=str(name),
            agent_runs=int(n),
            tokens_in=int(tokens_in),
            tokens_out=int(tokens_out),
            cost_usd=Decimal(str(cost)).quantize(_CENTS),
        )
        for index, name, n, tokens_in, tokens_out, cost in rows
    ]
    return sorted(found, key=lambda b: (b.start, b.group is None, b.group or ""))


#: Values of ``outcome`` per window or bin in the grouping key: 0 (still open), then
#: ``insights.OUTCOMES`` in order.
_SLOTS = len(insights.OUTCOMES) + 1
# The key is a UInt16: it must hold every window's and every bin's outcomes (the bin of a
# run without a duration, derived.NO_DURATION, among them).
assert insights.MAX_BUCKETS * _SLOTS <= 2**16
assert (derived.NO_DURATION + 1) * _SLOTS <= 2**16


def _by_key(inner: str, group: str, folds: Sequence[str], drop: str = "") -> str:
    """Count rows per small integer key (a run's window or bin ``group``, times five, plus
    its outcome), then fold the outcome counts of each window or bin into one row, leaving
    out open runs' and the ``drop`` condition's. One grouping key of two bytes is what
    ClickHouse groups fastest, and leaving runs out after counting spares a filter on
    every row of the month."""
    keep = f"key % {_SLOTS} != 0" + (f" AND {drop}" if drop else "")
    # Not pushed down: ClickHouse would move the outer filter on the key below the
    # grouping, back onto every row.
    return (
        f"SELECT intDiv(key, {_SLOTS}) AS slot, {', '.join(folds)}"
        f" FROM (SELECT toUInt16(({group}) * {_SLOTS} + outcome) AS key, count() AS n"
        f" {inner} GROUP BY key)"
        f" WHERE {keep} GROUP BY slot {read_with('query_plan_filter_push_down = 0')}"
    )


def outcomes_statement(
    database: str, customer_id: uuid.UUID, *, start: datetime, end: datetime, bucket_seconds: int
) -> Statement:
    """A row per window: its index, then a count per outcome in ``insights.OUTCOMES``
    order, as the database's query. Read from the derived columns when the window fits
    them (:func:`flightlog.sink.derived.fits`), from ``completed_at`` otherwise."""
    if not derived.fits(start, end):
        return _outcomes_from_completed_at(
            database, customer_id, start=start, end=end, bucket_seconds=bucket_seconds
        )
    return Statement(
        _by_key(
            f"FROM {database}.task_runs FINAL WHERE customer_key = {{customer:String}}"
            " AND completed_second >= {start:UInt32} AND completed_second < {end:UInt32}",
            "intDiv(completed_second - {start:UInt32}, {width:UInt32})",
            [f"sumIf(n, key % {_SLOTS} = {derived.outcome_of(s)})" for s in insights.OUTCOMES],
        ),
        {
            "start": derived.second(start),
            "end": derived.second(end),
            "width": bucket_seconds,
            "customer": str(customer_id),
        },
    )


def _outcomes_from_completed_at(
    database: str, customer_id: uuid.UUID, *, start: datetime, end: datetime, bucket_seconds: int
) -> Statement:
    # In microseconds: toUnixTimestamp is a UInt32 (a window before 1970 would count from
    # 0, one after 2106 fails), and the filtered time since the origin is never negative.
    counts = ", ".join(f"countIf(status = '{status}')" for status in insights.OUTCOMES)
    return Statement(
        "SELECT intDiv(toUnixTimestamp64Micro(assumeNotNull(completed_at)) - {origin:Int64},"
        f" {{width:Int64}}) AS bucket, {counts}"
        f" FROM {database}.task_runs FINAL"
        f" WHERE customer_id = {{customer:UUID}} AND status IN ({status_list(insights.OUTCOMES)})"
        f" AND {_windowed('completed_at')} GROUP BY bucket {READ}",
        {
            "origin": int(start.timestamp()) * 1_000_000,
            "width": bucket_seconds * 1_000_000,
            "customer": str(customer_id),
            "start": time_text(start),
            "end": time_text(end),
        },
    )


def run_outcomes(
    backend: SinkBackend,
    customer_id: uuid.UUID,
    *,
    since: datetime,
    bucket_seconds: int = 86_400,
    buckets: int = 30,
) -> list[OutcomeBucket]:
    """:func:`flightlog.services.insights.run_outcomes`, from the sink."""
    start, end = insights._window(since, bucket_seconds, buckets)
    rows = backend.select(
        outcomes_statement(
            backend.url.database, customer_id, start=start, end=end, bucket_seconds=bucket_seconds
        )
    )
    return insights.outcome_buckets(rows, start, bucket_seconds)


def durations_statement(
    database: str, customer_id: uuid.UUID, *, since: datetime, until: datetime | None
) -> Statement:
    """A row per bin of ``insights.DURATION_EDGES``: its index, runs, completed, failed or
    timed out, as the database's query. Read from the derived columns when the window
    fits them (:func:`flightlog.sink.derived.fits`), from ``completed_at`` otherwise."""
    if not derived.fits(since, until):
        return _durations_from_completed_at(database, customer_id, since=since, until=until)
    params: dict[str, ParamValue] = {
        "customer": str(customer_id),
        "start": derived.second(since),
    }
    ends = ""
    if until is not None:
        ends = " AND completed_second < {end:UInt32}"
        params["end"] = derived.second(until)
    failures = ", ".join(str(derived.outcome_of(status)) for status in insights.FAILURES)
    return Statement(
        _by_key(
            f"FROM {database}.task_runs FINAL WHERE customer_key = {{customer:String}}"
            f" AND completed_second >= {{start:UInt32}}{ends}",
            "duration_bin",
            [
                "sum(n)",
                f"sumIf(n, key % {_SLOTS} = {derived.outcome_of(RunStatus.COMPLETED.value)})",
                f"sumIf(n, key % {_SLOTS} IN ({failures}))",
            ],
            drop=f"slot != {derived.NO_DURATION}",
        ),
        params,
    )


def _durations_from_completed_at(
    database: str, customer_id: uuid.UUID, *, since: datetime, until: datetime | None
) -> Statement:
    params: dict[str, ParamValue] = {"customer": str(customer_id), "start": time_text(since)}
    ends = ""
    if until is not None:
        ends = f" AND completed_at < {{end:{TIME}}}"
        params["end"] = time_text(until)
    return Statement(
        f"SELECT {derived.duration_bin('duration_seconds')} AS bin, count(),"
        f" countIf(status = '{RunStatus.COMPLETED.value}'),"
        f" countIf(status IN ({status_list(insights.FAILURES)}))"
        f" FROM {database}.task_runs FINAL"
        f" WHERE customer_id = {{customer:UUID}} AND status IN ({status_list(insights.OUTCOMES)})"
        f" AND duration_seconds IS NOT NULL AND completed_at >= {{start:{TIME}}}{ends}"
        f" GROUP BY bin {READ}",
        params,
    )


def run_durations(
    backend: SinkBackend, customer_id: uuid.UUID, *, since: datetime, until: datetime | None = None
) -> list[DurationBin]:
    """:func:`flightlog.services.insights.run_durations`, from the sink."""
    start = insights._start(since, "since")
    end = None if until is None else insights._start(until, "until")
    rows = backend.select(
        durations_statement(backend.url.database, customer_id, since=start, until=end)
    )
    return insights.duration_bins(rows)


#: The retention in a table's ``engine_full`` (``TTL time + toIntervalDay(400)``).
_RETENTION = re.compile(r"TTL time \+ toIntervalDay\((\d+)\)")


def holds_every_metric_point(backend: SinkBackend, customer_id: uuid.UUID) -> bool:
    """Whether the sink still holds every metric point of the customer it was given.

    The name list counts all of a customer's points, and the TTL drops the ones older
    than the retention: only while the oldest point ever copied for the customer (its
    floor, written before the points) is a day inside the retention can none be gone.
    A sink without the floor table (its writer is an earlier version) holds it unknown.
    """
    database = backend.url.database
    tables = {
        str(name): str(engine)
        for name, engine in backend.select(
            Statement(
                "SELECT name, engine_full FROM system.tables WHERE database = {db:String}"
                f" AND name IN ('metric_points', '{METRIC_FLOOR}') {READ}",
                {"db": database},
            )
        )
    }
    retention = _RETENTION.search(tables.get("metric_points", ""))
    if METRIC_FLOOR not in tables or retention is None:
        return False
    rows = backend.select(
        Statement(
            f"SELECT minOrNull(oldest) FROM {database}.{METRIC_FLOOR}"
            f" WHERE customer_id = {{customer:UUID}} {READ}",
            {"customer": str(customer_id)},
        )
    )
    floor = rows[0][0] if rows else None
    if floor is None:
        return True  # nothing copied for the customer yet (or written by hand, not the worker)
    horizon = datetime.now(UTC) - timedelta(days=int(retention.group(1)) - 1)
    return _moment(str(floor)) >= horizon


def metric_names(
    backend: SinkBackend, customer_id: uuid.UUID, *, limit: int = 500
) -> list[MetricName]:
    """:func:`flightlog.services.metrics.metric_names`, from the sink; :class:`NotHeld`
    (the database answers) when the TTL may have dropped some of the customer's points."""
    require(1 <= limit <= MAX_NAMES, f"limit must be between 1 and {MAX_NAMES}")
    if not holds_every_metric_point(backend, customer_id):
        raise NotHeld("the sink may have dropped some of the customer's metric points")
    rows = backend.select(
        Statement(
            "SELECT name, count(), max(unit), max(time)"
            f" FROM {backend.url.database}.metric_points FINAL"
            " WHERE customer_id = {customer:UUID}"
            f" GROUP BY name ORDER BY name LIMIT {{limit:UInt32}} {READ}",
            {"customer": str(customer_id), "limit": limit},
        )
    )
    return [MetricName(str(name), int(n), unit, _moment(last)) for name, n, unit, last in rows]


def _metric_filters(
    task_id: uuid.UUID | None,
    run_id: uuid.UUID | None,
    since: datetime | None,
    until: datetime | None,
) -> tuple[list[str], dict[str, ParamValue]]:
    if task_id is None and run_id is None:
        raise ValidationError("give a task_id or a run_id to read metrics")
    where = ["customer_id = {customer:UUID}"]
    params: dict[str, ParamValue] = {}
    if task_id is not None:
        where.append("task_id = {task:UUID}")
        params["task"] = str(task_id)
    if run_id is not None:
        where.append("run_id = {run:UUID}")
        params["run"] = str(run_id)
    if since is not None:
        where.append(f"time >= {{since:{TIME}}}")
        params["since"] = time_text(since)
    if until is not None:
        where.append(f"time < {{until:{TIME}}}")
        params["until"] = time_text(until)
    return where, params


def _float(value: Any) -> float:
    return float(value)


def metric_summary(
    backend: SinkBackend,
    customer_id: uuid.UUID,
    *,
    task_id: uuid.UUID | None = None,
    run_id: uuid.UUID | None = None,
    names: Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, MetricSummary]:
    """:func:`flightlog.services.metrics.summarize`, from the sink (the latest value is the
    one with the latest time, then the highest id, as there)."""
    where, params = _metric_filters(task_id, run_id, since, until)
    params["customer"] = str(customer_id)
    if names:
        where.append("name IN {names:Array(String)}")
        params["names"] = [str(name) for name in names]
    rows = backend.select(
        Statement(
            "SELECT name, count(), min(value), max(value), avg(value), argMax(value, (time, id))"
            f" FROM {backend.url.database}.metric_points FINAL WHERE {' AND '.join(where)}"
            f" GROUP BY name {READ}",
            params,
        )
    )
    return {
        str(name): MetricSummary(
            name=str(name),
            count=int(n),
            min=_float(low),
            max=_float(high),
            avg=_float(mean),
            last=_float(last),
        )
        for name, n, low, high, mean, last in rows
    }


def metric_buckets(
    backend: SinkBackend,
    customer_id: uuid.UUID,
    name: str,
    *,
    bucket_seconds: int,
    task_id: uuid.UUID | None = None,
    run_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[MetricBucket]:
    """:func:`flightlog.services.metrics.buckets` (a series over a long range), from the sink."""
    require(bucket_seconds >= 1, "bucket_seconds must be at least 1")
    where, params = _metric_filters(task_id, run_id, since, until)
    where.append("name = {name:String}")
    params.update({"customer": str(customer_id), "name": name, "width": bucket_seconds})
    rows = backend.select(
        Statement(
            "SELECT intDiv(toInt64(toUnixTimestamp(time)), {width:UInt32}) AS bucket,"
            " count(), min(value), max(value), avg(value)"
            f" FROM {backend.url.database}.metric_points FINAL WHERE {' AND '.join(where)}"
            f" GROUP BY bucket ORDER BY bucket {READ}",
            params,
        )
    )
    return [
        MetricBucket(
            start=datetime.fromtimestamp(int(index) * bucket_seconds, tz=UTC),
            count=int(n),
            min=_float(low),
            max=_float(high),
            avg=_float(mean),
        )
        for index, n, low, high, mean in rows
    ]

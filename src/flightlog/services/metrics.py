"""Metric points: record one or a batch, read a series, aggregate by name and by time bucket,
list the names a customer recorded and where.

Every point belongs to a task or a run of the customer: :func:`record_metric`
and the readers check that (``store.metrics``). :func:`record` and
:func:`record_batch` write points as given, for code that checked them itself;
the Store's batch path is :mod:`flightlog.ingest`.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import Select, func, insert, or_, select
from sqlalchemy.orm import Session

from flightlog.enums import MetricType
from flightlog.errors import ValidationError
from flightlog.models import MetricPoint, Task, TaskRun
from flightlog.services._common import AwareDatetime, require
from flightlog.services._dialect import epoch_bucket
from flightlog.services.ownership import assert_owned

MAX_SERIES_POINTS = 100_000


class NewMetric(BaseModel):
    """A point to record; ``recorded_at`` defaults to the database clock."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=255)
    value: float
    metric_type: MetricType = MetricType.GAUGE
    unit: str | None = Field(default=None, max_length=32)
    labels: dict[str, Any] = Field(default_factory=dict)
    task_id: uuid.UUID | None = None
    run_id: uuid.UUID | None = None
    agent_run_id: uuid.UUID | None = None
    recorded_at: AwareDatetime | None = None

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


@dataclass(frozen=True)
class MetricSummary:
    """Aggregates of one metric name."""

    name: str
    count: int
    min: float
    max: float
    avg: float
    last: float


@dataclass(frozen=True)
class MetricBucket:
    """Aggregates of one metric over one time bucket."""

    start: datetime
    count: int
    min: float
    max: float
    avg: float


def validate_metric(raw: NewMetric | dict[str, Any], *, index: int | None = None) -> NewMetric:
    """Validate one point, naming its position in a batch when it fails."""
    if isinstance(raw, NewMetric):
        return raw
    try:
        return NewMetric.model_validate(raw)
    except PydanticValidationError as exc:
        where = f"metric #{index}" if index is not None else "metric"
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ValidationError(f"Invalid {where}: {problems}", index=index) from None


def _row(metric: NewMetric) -> dict[str, Any]:
    row = metric.model_dump()
    if row["recorded_at"] is None:
        row.pop("recorded_at")
    return row


def record(session: Session, metric: NewMetric | dict[str, Any]) -> MetricPoint:
    """Record one point as given."""
    point = MetricPoint(**_row(validate_metric(metric)))
    session.add(point)
    session.flush()
    return point


def record_metric(
    session: Session, customer_id: uuid.UUID, /, metric: NewMetric | dict[str, Any]
) -> MetricPoint:
    """Record one point of a task or a run of the customer.

    A point with neither ``task_id`` nor ``run_id`` is a :class:`ValidationError`;
    a task, run or agent run of another customer is :class:`NotFound`.
    """
    valid = validate_metric(metric)
    if valid.task_id is None and valid.run_id is None:
        raise ValidationError("metric #0 needs a task_id or a run_id", index=0)
    assert_owned(
        session,
        customer_id,
        task_ids=[valid.task_id],
        run_ids=[valid.run_id],
        agent_run_ids=[valid.agent_run_id],
    )
    return record(session, valid)


def record_batch(session: Session, metrics: Iterable[NewMetric | dict[str, Any]]) -> int:
    """Record points atomically: one invalid point (named by index) rejects them all."""
    valid = [validate_metric(raw, index=i) for i, raw in enumerate(metrics)]
    if not valid:
        return 0
    with_time = [_row(m) for m in valid if m.recorded_at is not None]
    without_time = [_row(m) for m in valid if m.recorded_at is None]
    for rows in (with_time, without_time):
        if rows:
            session.execute(insert(MetricPoint), rows)
    return len(valid)


def _scoped(
    stmt: Select[Any],
    *,
    task_id: uuid.UUID | None,
    run_id: uuid.UUID | None,
    since: datetime | None,
    until: datetime | None,
) -> Select[Any]:
    if task_id is None and run_id is None:
        raise ValidationError("give a task_id or a run_id to read metrics")
    if task_id is not None:
        stmt = stmt.where(MetricPoint.task_id == task_id)
    if run_id is not None:
        stmt = stmt.where(MetricPoint.run_id == run_id)
    if since is not None:
        stmt = stmt.where(MetricPoint.recorded_at >= since)
    if until is not None:
        stmt = stmt.where(MetricPoint.recorded_at < until)
    return stmt


def _check_readable(
    session: Session,
    customer_id: uuid.UUID,
    task_id: uuid.UUID | None,
    run_id: uuid.UUID | None,
) -> None:
    assert_owned(session, customer_id, task_ids=[task_id], run_ids=[run_id])


def series(
    session: Session,
    customer_id: uuid.UUID,
    /,
    name: str,
    *,
    task_id: uuid.UUID | None = None,
    run_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 10_000,
) -> list[MetricPoint]:
    """Points of one named series of the customer's task or run, in time order."""
    _check_readable(session, customer_id, task_id, run_id)
    require(1 <= limit <= MAX_SERIES_POINTS, f"limit must be between 1 and {MAX_SERIES_POINTS}")
    stmt = _scoped(
        select(MetricPoint).where(MetricPoint.name == name),
        task_id=task_id,
        run_id=run_id,
        since=since,
        until=until,
    )
    stmt = stmt.order_by(MetricPoint.recorded_at, MetricPoint.id).limit(limit)
    return list((session.scalars(stmt)).all())


def summarize(
    session: Session,
    customer_id: uuid.UUID,
    /,
    *,
    task_id: uuid.UUID | None = None,
    run_id: uuid.UUID | None = None,
    names: Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, MetricSummary]:
    """count, min, max, avg and last value per metric name of the customer's task or run."""
    _check_readable(session, customer_id, task_id, run_id)
    stmt = _scoped(
        select(
            MetricPoint.name,
            func.count(MetricPoint.id),
            func.min(MetricPoint.value),
            func.max(MetricPoint.value),
            func.avg(MetricPoint.value),
        ),
        task_id=task_id,
        run_id=run_id,
        since=since,
        until=until,
    )
    if names:
        stmt = stmt.where(MetricPoint.name.in_(list(names)))
    rows = (session.execute(stmt.group_by(MetricPoint.name))).all()
    last_rank = (
        func.row_number()
        .over(
            partition_by=MetricPoint.name,
            order_by=(MetricPoint.recorded_at.desc(), MetricPoint.id.desc()),
        )
        .label("rank")
    )
    latest = _scoped(
        select(MetricPoint.name, MetricPoint.value, last_rank),
        task_id=task_id,
        run_id=run_id,
        since=since,
        until=until,
    )
    if names:
        latest = latest.where(MetricPoint.name.in_(list(names)))
    ranked = latest.subquery()
    last_values = dict(
        (session.execute(select(ranked.c.name, ranked.c.value).where(ranked.c.rank == 1)))
        .tuples()
        .all()
    )
    return {
        name: MetricSummary(
            name=name,
            count=int(count),
            min=float(low),
            max=float(high),
            avg=float(mean),
            last=float(last_values[name]),
        )
        for name, count, low, high, mean in rows
    }


def buckets(
    session: Session,
    customer_id: uuid.UUID,
    /,
    name: str,
    *,
    bucket_seconds: int,
    task_id: uuid.UUID | None = None,
    run_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[MetricBucket]:
    """Aggregates of one series per ``bucket_seconds``-wide window, oldest first."""
    _check_readable(session, customer_id, task_id, run_id)
    require(bucket_seconds >= 1, "bucket_seconds must be at least 1")
    bucket = epoch_bucket(session, MetricPoint.recorded_at, bucket_seconds).label("bucket")
    stmt = _scoped(
        select(
            bucket,
            func.count(MetricPoint.id),
            func.min(MetricPoint.value),
            func.max(MetricPoint.value),
            func.avg(MetricPoint.value),
        ).where(MetricPoint.name == name),
        task_id=task_id,
        run_id=run_id,
        since=since,
        until=until,
    )
    rows = (session.execute(stmt.group_by(bucket).order_by(bucket))).all()
    return [
        MetricBucket(
            start=datetime.fromtimestamp(int(index) * bucket_seconds, tz=UTC),
            count=int(count),
            min=float(low),
            max=float(high),
            avg=float(mean),
        )
        for index, count, low, high, mean in rows
    ]


@dataclass(frozen=True)
class MetricName:
    """One metric name the customer has recorded: how often, in what unit, and when last."""

    name: str
    points: int
    unit: str | None
    last_recorded_at: datetime


@dataclass(frozen=True)
class MetricSource:
    """A task, or one run of it, that recorded a metric name: where to read its series.

    ``run_id`` is ``None`` for points recorded on the task outside any run.
    """

    task_id: uuid.UUID
    task_title: str
    run_id: uuid.UUID | None
    run_number: int | None
    points: int
    first_recorded_at: datetime
    last_recorded_at: datetime


MAX_NAMES = 1000


def _customers_points(customer_id: uuid.UUID) -> Any:
    """Points of the customer's tasks or runs (each served by its owner's index)."""
    tasks = select(Task.id).where(Task.customer_id == customer_id)
    runs = select(TaskRun.id).join(Task, Task.id == TaskRun.task_id)
    runs = runs.where(Task.customer_id == customer_id)
    return or_(MetricPoint.task_id.in_(tasks), MetricPoint.run_id.in_(runs))


def metric_names(
    session: Session, customer_id: uuid.UUID, /, *, limit: int = 500
) -> list[MetricName]:
    """The metric names recorded on the customer's tasks and runs, by name."""
    require(1 <= limit <= MAX_NAMES, f"limit must be between 1 and {MAX_NAMES}")
    rows = session.execute(
        select(
            MetricPoint.name,
            func.count(),
            func.max(MetricPoint.unit),
            func.max(MetricPoint.recorded_at),
        )
        .where(_customers_points(customer_id))
        .group_by(MetricPoint.name)
        .order_by(MetricPoint.name)
        .limit(limit)
    )
    return [MetricName(name, int(n), unit, last) for name, n, unit, last in rows]


def metric_sources(
    session: Session, customer_id: uuid.UUID, /, name: str, *, limit: int = 100
) -> list[MetricSource]:
    """The customer's tasks and runs that recorded ``name``, most recently recorded first."""
    require(1 <= limit <= MAX_NAMES, f"limit must be between 1 and {MAX_NAMES}")
    last = func.max(MetricPoint.recorded_at)
    rows = session.execute(
        select(
            Task.id,
            Task.title,
            MetricPoint.run_id,
            TaskRun.run_number,
            func.count(),
            func.min(MetricPoint.recorded_at),
            last,
        )
        .select_from(MetricPoint)
        .outerjoin(TaskRun, TaskRun.id == MetricPoint.run_id)
        .join(Task, Task.id == func.coalesce(MetricPoint.task_id, TaskRun.task_id))
        .where(_customers_points(customer_id), MetricPoint.name == name)
        .group_by(Task.id, Task.title, MetricPoint.run_id, TaskRun.run_number)
        .order_by(last.desc(), Task.id, TaskRun.run_number)
        .limit(limit)
    )
    return [MetricSource(*row) for row in rows]

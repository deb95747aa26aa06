"""Batch ingest of metric points, with the same fast-validation scheme as events.

The rules are :class:`flightlog.services.metrics.NewMetric`'s plus the
Store's own: every point belongs to a task or a run of the tenant. A point
without ``recorded_at`` gets the database clock, as the column default would.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from flightlog.enums import MetricType
from flightlog.errors import ValidationError
from flightlog.ingest._codec import Codec
from flightlog.ingest._pipeline import (
    DEFAULT_CHUNK_SIZE,
    Owners,
    Row,
    Stream,
    ingest,
    session_codec,
)
from flightlog.ingest.events import UNDECIDED, enum_value, json_text, uuid_value
from flightlog.services._common import time_in_range, whole_unit
from flightlog.services.metrics import NewMetric, validate_metric

#: Column order of a prepared metric row (``id`` comes from the database).
METRIC_COLUMNS = (
    "task_id",
    "run_id",
    "agent_run_id",
    "name",
    "metric_type",
    "value",
    "unit",
    "labels",
    "recorded_at",
)
METRICS = Stream(
    table="metric_points",
    columns=METRIC_COLUMNS,
    references=(("task_ids", 0), ("run_ids", 1), ("agent_run_ids", 2)),
    clock_column=8,
)

_FIELDS = frozenset(NewMetric.model_fields)
_UUID_FIELDS = ("task_id", "run_id", "agent_run_id")
_METRIC_TYPES = {member.value: member.value for member in MetricType}
_ABSENT = object()
_UUID = uuid.UUID
_isfinite = math.isfinite
#: Distinct label sets one ingest call remembers the JSON of.
_MAX_REMEMBERED_LABELS = 1024
#: Integers up to 2**53 convert to float exactly; larger ones are left to the model.
_EXACT_INTS = 2**53


def _number(value: Any) -> float | None:
    kind = type(value)
    if kind is float:
        return value if _isfinite(value) else None
    if kind is int and -_EXACT_INTS < value < _EXACT_INTS:
        return float(value)
    return None


def _labels_text(labels: dict[str, Any], cache: dict[tuple[Any, ...], str] | None) -> str | None:
    """The stored JSON of ``labels``; label sets repeat, so text-only ones are remembered.

    Only all-text values are keyed: their tuple of items is equal exactly when
    the JSON is (``1`` and ``True`` would collide as keys, strings cannot).
    """
    if cache is None:
        return json_text(labels)
    for value in labels.values():
        if type(value) is not str:
            return json_text(labels)
    key = tuple(labels.items())
    text = cache.get(key)
    if text is None:
        text = json_text(labels)
        if text is not None and len(cache) < _MAX_REMEMBERED_LABELS:
            cache[key] = text
    return text


def fast_metric(
    raw: Any, codec: Codec, labels_cache: dict[tuple[Any, ...], str] | None = None
) -> Row | None:
    """The prepared row of a plain-dict point, or None when the model must decide."""
    if type(raw) is not dict or not _FIELDS.issuperset(raw):
        return None
    get = raw.get
    name = get("name")
    if type(name) is not str or not 1 <= len(name) <= 255:
        return None
    number = _number(get("value"))
    if number is None:
        return None
    metric_type: str | None = "GAUGE"
    given = get("metric_type", _ABSENT)
    if given is not _ABSENT:
        metric_type = enum_value(MetricType, _METRIC_TYPES, given)
        if metric_type is None:
            return None
    unit = get("unit")
    if unit is not None and (type(unit) is not str or len(unit) > 32):
        return None
    labels = get("labels", _ABSENT)
    if labels is _ABSENT:
        stored = "{}"
    elif type(labels) is dict:
        for key in labels:
            if type(key) is not str:
                return None
        text = _labels_text(labels, labels_cache)
        if text is None:
            return None
        stored = text
    else:
        return None
    encode = codec.encode_uuid
    ids: list[Any] = []
    for field in _UUID_FIELDS:
        value = get(field)
        if value is not None:
            value = encode(value) if type(value) is _UUID else uuid_value(value, codec)
            if value is UNDECIDED:
                return None
        ids.append(value)
    at = get("recorded_at")
    if at is not None:
        if type(at) is not datetime or at.tzinfo is None or not time_in_range(at):
            return None
        at = codec.encode_time(at)
    return (ids[0], ids[1], ids[2], name, metric_type, number, unit, stored, at)


def _from_model(metric: NewMetric, codec: Codec, index: int | None) -> Row:
    stored = json_text(metric.labels)
    if stored is None:
        where = f"metric #{index}" if index is not None else "metric"
        raise ValidationError(f"Invalid {where}: labels: cannot be stored as JSON", index=index)

    def driver_id(value: uuid.UUID | None) -> Any:
        return None if value is None else codec.encode_uuid(value)

    at = metric.recorded_at
    return (
        driver_id(metric.task_id),
        driver_id(metric.run_id),
        driver_id(metric.agent_run_id),
        metric.name,
        metric.metric_type.value,
        metric.value,
        metric.unit,
        stored,
        None if at is None else codec.encode_time(at),
    )


def metric_preparer(codec: Codec) -> Callable[[Any, int | None], Row]:
    """``prepare(raw, index)``: validate one point and return its row in driver form.

    Raises :class:`ValidationError` exactly when :func:`validate_metric` would,
    and also for a point with neither ``task_id`` nor ``run_id`` (the
    Store's rule: a point belongs to a task or a run).
    """

    labels_cache: dict[tuple[Any, ...], str] = {}

    def prepare(raw: Any, index: int | None) -> Row:
        row = fast_metric(raw, codec, labels_cache)
        if row is None:
            row = _from_model(validate_metric(raw, index=index), codec, index)
        if row[0] is None and row[1] is None:
            where = f"metric #{index}" if index is not None else "metric"
            raise ValidationError(f"{where} needs a task_id or a run_id", index=index)
        return row

    return prepare


def ingest_metrics(
    session: Session,
    customer_id: uuid.UUID,
    /,
    metrics: Iterable[NewMetric | dict[str, Any]],
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> int:
    """Record a stream of points atomically for ``customer_id``; return how many.

    Streams in chunks like :func:`flightlog.ingest.ingest_events`: an invalid
    point raises :class:`ValidationError` naming its ``#index``, a task or
    run of another tenant raises :class:`NotFound`, and then nothing of this
    call stays written. Never commits.
    """
    codec = session_codec(session)
    return ingest(
        session,
        metrics,
        stream=METRICS,
        prepare=metric_preparer(codec),
        owners=Owners(METRICS, customer_id, codec),
        chunk_size=chunk_size,
        savepoint=not whole_unit(session, ingest_metrics),
    )

"""Recording OTLP metric points (``gen_ai.client.token.usage``, ``…operation.duration``…).

A metric point in Flightlog belongs to a task. OTLP metrics are aggregates of a
process, not of one trace, so a resource's points go to the task its resource
names (``flightlog.task_id`` or ``flightlog.task``), else the task titled after
its ``service.name``; the point's attributes become the labels. Histograms keep
their sum as the value and their count as the ``count`` label.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from flightlog.enums import MetricType
from flightlog.ingest.metrics import ingest_metrics
from flightlog.otlp import mapping
from flightlog.otlp.ledger import clean_text
from flightlog.otlp.readings import span_time
from flightlog.otlp.spans import MetricPoint, Rejected
from flightlog.otlp.task_rule import TaskRef, resolve_tasks

_TYPES = {"gauge": MetricType.GAUGE, "sum": MetricType.COUNTER, "histogram": MetricType.HISTOGRAM}


@dataclass(slots=True)
class PointsRecorded:
    """What became of a batch of metric points."""

    accepted: int = 0
    rejected: list[Rejected] = field(default_factory=list)


def _label(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON cannot hold NaN or Infinity
    if isinstance(value, str):
        return clean_text(value)[:1000]
    if isinstance(value, bytes):
        return value.hex()[:1000]
    if isinstance(value, tuple | list):
        return [_label(item) for item in value][:100]
    if isinstance(value, dict):
        return {clean_text(str(k)): _label(v) for k, v in list(value.items())[:100]}
    return value


def record_metric_points(
    session: Session, customer_id: uuid.UUID, /, points: Sequence[MetricPoint]
) -> PointsRecorded:
    """Record OTLP metric points under their resources' tasks (see the module docstring)."""
    result = PointsRecorded()
    if not points:
        return result
    refs: list[TaskRef] = []
    for point in points:
        resource = point.resource
        service = mapping.text(resource.get("service.name"))
        service = None if service is None else clean_text(service)[:500]
        title = mapping.text(resource.get(mapping.TASK_TITLE)) or service or "OpenTelemetry metrics"
        refs.append((mapping.text(resource.get(mapping.TASK_ID)), title, service))
    tasks = resolve_tasks(session, customer_id, refs)
    rows: list[dict[str, Any]] = []
    for point, ref in zip(points, refs, strict=True):
        task = tasks[ref]
        service = ref[2]
        if isinstance(task, str):
            result.rejected.append(Rejected(f"point of {point.name}", task))
            continue
        labels = {clean_text(k): _label(v) for k, v in point.attributes.items()}
        if point.count is not None:
            labels["count"] = point.count
        if point.temporality is not None:
            labels["aggregation_temporality"] = point.temporality
        if service:
            labels.setdefault("service.name", service)
        rows.append(
            {
                "name": clean_text(point.name)[:255],
                "value": point.value,
                "metric_type": _TYPES.get(point.kind, MetricType.GAUGE),
                "unit": clean_text(point.unit)[:32] or None,
                "labels": labels,
                "task_id": task,
                "recorded_at": span_time(point.time_unix_nano),
            }
        )
    if rows:
        ingest_metrics(session, customer_id, rows)
    result.accepted = len(rows)
    return result

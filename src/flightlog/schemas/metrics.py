"""Metric points: the points a client records in a batch, series and summaries it reads."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from flightlog.enums import MetricType
from flightlog.schemas._base import In, Out
from flightlog.schemas.fields import MAX_BATCH, Time
from flightlog.services import metrics as metric_service


class NewMetric(metric_service.NewMetric):
    """The Store's ``NewMetric``, whose point belongs to a task or a run."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["task_id"], "properties": {"task_id": {"type": "string"}}},
                {"required": ["run_id"], "properties": {"run_id": {"type": "string"}}},
            ]
        }
    )

    recorded_at: Time | None = None


class MetricBatch(In):
    """``POST /metrics``: read by :mod:`flightlog.api.batches`; this model documents it."""

    metrics: list[NewMetric] = Field(min_length=1, max_length=MAX_BATCH)


class Recorded(BaseModel):
    recorded: int


class MetricPointOut(Out):
    id: int
    task_id: uuid.UUID | None
    run_id: uuid.UUID | None
    agent_run_id: uuid.UUID | None
    name: str
    metric_type: MetricType
    value: float
    unit: str | None
    labels: dict[str, Any]
    recorded_at: datetime


class MetricSummaryOut(Out):
    name: str
    count: int
    min: float
    max: float
    avg: float
    last: float

"""Metric points (seed 000's MetricSnapshot): one measured value at one time."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Identity, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from flightlog.db import partitions as _partitions  # noqa: F401  (its INSERT hook)
from flightlog.db.base import Base, str_enum
from flightlog.db.partition_layout import PARTITION_KEY_INFO
from flightlog.db.types import BigIntIdentity, utcnow
from flightlog.enums import MetricType
from flightlog.models._columns import owner_fk


class MetricPoint(Base):
    """A value of a named series, with labels, for a task or one of its runs.

    Every index leads with the task, the run or the agent run, as every reader
    and cascade is scoped to one: an index on ``name`` or ``recorded_at`` alone
    would cost each insert and serve no read (migration 0007, decision 0010).
    On PostgreSQL the table is partitioned by month of ``recorded_at``
    (migration 0010, decision 0016), with (id, recorded_at) as its primary key.
    """

    __tablename__ = "metric_points"
    __table_args__ = (
        Index("ix_metric_points_task_name_recorded", "task_id", "name", "recorded_at"),
        Index("ix_metric_points_run_name_recorded", "run_id", "name", "recorded_at"),
        {"sqlite_autoincrement": True, "info": {PARTITION_KEY_INFO: "recorded_at"}},
    )

    id: Mapped[int] = mapped_column(BigIntIdentity, Identity(), primary_key=True)
    task_id: Mapped[uuid.UUID | None] = owner_fk("tasks.id", nullable=True, index=False)
    run_id: Mapped[uuid.UUID | None] = owner_fk("task_runs.id", nullable=True, index=False)
    agent_run_id: Mapped[uuid.UUID | None] = owner_fk("agent_runs.id", nullable=True)
    name: Mapped[str] = mapped_column(String(255))
    metric_type: Mapped[MetricType] = mapped_column(
        str_enum(MetricType, "metric_type"), default=MetricType.GAUGE, server_default="GAUGE"
    )
    value: Mapped[float]
    unit: Mapped[str | None] = mapped_column(String(32))
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    recorded_at: Mapped[datetime] = mapped_column(server_default=utcnow())


#: Seed 000's name for the same thing.
MetricSnapshot = MetricPoint

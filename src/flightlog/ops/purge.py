"""Delete old events and metric points in small batches (seed 004's 90-day clean-up).

With ``tasks=True`` it also deletes finished task trees with everything they own
(see :mod:`flightlog.ops.purge_tasks` for what counts as finished and old).

Each batch is its own short transaction that deletes at most ``batch_size``
rows by primary key, so writers are never blocked for long and a purge can
be interrupted and resumed. Rows newer than the cutoff are never touched.
Events that pointed at a purged parent event keep existing with the parent
reference set to NULL (the foreign key's ON DELETE SET NULL; on PostgreSQL a
trigger, migration 0010). The audit records of deleted customers (events of no
customer) are kept whatever their age.

On PostgreSQL, where both tables are partitioned by month, the months that lie
wholly before the cutoff are dropped first, a partition at a time
(:mod:`flightlog.ops.purge_partitions`), and the batches delete only what is
left: the month the cutoff falls in. A purge also makes the coming months'
partitions there (:func:`flightlog.db.partitions.ensure_window`), so running it
on a schedule keeps them ready. The counts are exact either way.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, and_, delete, func, not_, select
from sqlalchemy.exc import DBAPIError

from flightlog import models as m
from flightlog.db.partitions import ensure_window
from flightlog.enums import EventType
from flightlog.errors import ValidationError
from flightlog.ops.purge_partitions import drop_whole_partitions, would_drop
from flightlog.ops.purge_tasks import DEFAULT_TASK_BATCH, purge_finished_tasks

log = logging.getLogger(__name__)

DEFAULT_BATCH = 5000
_AGE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
Progress = Callable[[str, int], None]


#: The longest age accepted: a cutoff or an expiry this far from now is still a date
#: Python and both databases hold (a longer one overflowed with a traceback).
MAX_AGE = timedelta(days=36525)


def parse_age(text: str) -> timedelta:
    """'90d', '12h', '30m', '2w' or '45s' as a duration, at most 100 years."""
    match = _AGE.match(text)
    if match is None or int(match.group(1)) <= 0:
        raise ValidationError(
            f"Cannot read the age {text!r}: write a positive number and a unit, e.g. 90d, 12h, 2w."
        )
    number, unit = int(match.group(1)), _UNITS[match.group(2)]
    if number > MAX_AGE / timedelta(**{unit: 1}):
        raise ValidationError(
            f"The age {text!r} is longer than 100 years: write at most 36525d (or 5217w)."
        )
    return timedelta(**{unit: number})


@dataclass(frozen=True)
class PurgeReport:
    """How many rows older than ``cutoff`` were deleted (or would be, in a dry run).

    ``tasks`` counts finished tasks, subtasks included, and stays 0 unless
    tasks were asked for; ``blobs`` the stored blobs only those tasks used.
    """

    cutoff: datetime
    events: int
    metric_points: int
    dry_run: bool
    tasks: int = 0
    blobs: int = 0
    partitions: tuple[str, ...] = ()


def _targets() -> list[tuple[str, Any, Any, ColumnElement[bool] | None]]:
    """Each table purged by age: its time column, and which of its old rows stay anyway."""
    return [
        ("events", m.Event.__table__, m.Event.created_at, _kept_events()),
        ("metric_points", m.MetricPoint.__table__, m.MetricPoint.recorded_at, None),
    ]


def _kept_events() -> ColumnElement[bool]:
    """Audit records that belong to no customer (a deleted customer's) are never purged.

    They are the only trace left of a customer deletion (who, when, why, how much),
    few and small, and a clean-up of telemetry must not erase that record.
    """
    return and_(m.Event.customer_id.is_(None), m.Event.event_type == EventType.AUDIT)


def oldest_batch(
    table: Any,
    timestamp: Any,
    cutoff: datetime,
    batch_size: int,
    kept: ColumnElement[bool] | None = None,
) -> Select[Any]:
    """The ids of one batch to delete: the first ``batch_size`` rows older than ``cutoff``.

    In id order, so a table without a time index (``metric_points`` since
    migration 0007) is walked along its primary key, stopping after
    ``batch_size`` matches; only the last, short batch reads the rest of the
    table. Old rows come first in id order as a rule, so each batch is cheap.
    """
    id_column = table.c.id
    return (
        select(id_column).where(_old(timestamp, cutoff, kept)).order_by(id_column).limit(batch_size)
    )


def _old(timestamp: Any, cutoff: datetime, kept: ColumnElement[bool] | None) -> Any:
    """Older than the cutoff and not among the rows ``kept`` names."""
    return timestamp < cutoff if kept is None else and_(timestamp < cutoff, not_(kept))


def purge(
    engine: Engine,
    *,
    cutoff: datetime,
    dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    tasks: bool = False,
    task_batch_size: int = DEFAULT_TASK_BATCH,
    blob_dir: Path | None = None,
) -> PurgeReport:
    """Delete events and metric points recorded before ``cutoff``; with ``tasks``, also the
    finished task trees (their blob files removed under ``blob_dir`` after each commit)."""
    if batch_size < 1 or task_batch_size < 1:
        raise ValidationError("batch size must be at least 1")
    counts: dict[str, int] = {}
    partitions: list[str] = []
    if not dry_run:
        _keep_months_ready(engine)
    for name, table, timestamp, kept in _targets():
        id_column = table.c.id
        if dry_run:
            with engine.connect() as connection:
                counts[name] = int(
                    connection.scalar(
                        select(func.count()).select_from(table).where(_old(timestamp, cutoff, kept))
                    )
                    or 0
                )
                partitions += would_drop(connection, table, cutoff, kept)
            continue
        dropped = drop_whole_partitions(
            engine, table=table, timestamp=timestamp, cutoff=cutoff, kept=kept, progress=progress
        )
        partitions += dropped.partitions
        total = dropped.rows
        while True:
            with engine.begin() as connection:
                batch = oldest_batch(table, timestamp, cutoff, batch_size, kept)
                # The time condition lets PostgreSQL look in the old partitions only.
                doomed = and_(id_column.in_(batch), timestamp < cutoff)
                deleted = connection.execute(delete(table).where(doomed)).rowcount
            total += deleted
            if progress is not None and deleted:
                progress(name, deleted)
            if deleted < batch_size:
                break
        counts[name] = total
    finished = None
    if tasks:
        finished = purge_finished_tasks(
            engine,
            cutoff=cutoff,
            blob_dir=blob_dir,
            dry_run=dry_run,
            batch_size=task_batch_size,
            progress=progress,
        )
    return PurgeReport(
        cutoff=cutoff,
        events=counts["events"],
        metric_points=counts["metric_points"],
        dry_run=dry_run,
        tasks=0 if finished is None else finished.tasks,
        blobs=0 if finished is None else finished.blobs,
        partitions=tuple(partitions),
    )


def _keep_months_ready(engine: Engine) -> None:
    """Make the coming months' partitions (PostgreSQL); busy locks only postpone it."""
    try:
        ensure_window(engine)
    except DBAPIError as exc:
        log.warning("purge could not make the coming months' partitions now: %s", exc.orig)

"""Purge by partition on PostgreSQL: drop the months that lie wholly before the cutoff.

A batched DELETE of a month of telemetry writes every row to the WAL, leaves
dead tuples for VACUUM and fires the parent-reference trigger per batch; a
``DROP TABLE`` of the month's partition costs the same whatever it holds
(decision 0016, benchmark ``partitions``). So :func:`drop_whole_partitions`
handles each of Flightlog's partitions whose whole range lies before the
cutoff, oldest first, one short transaction each:

1. ``LOCK ... IN SHARE MODE`` on the partition: nobody writes there
   meanwhile (readers go on), so the rows counted are the rows removed;
2. events only: children elsewhere whose parent is about to go get NULL,
   as the deleted parents' trigger does for a DELETE (ON DELETE SET NULL);
3. no kept rows: ``DROP TABLE``. Kept rows (a deleted customer's audit
   records, see :func:`flightlog.ops.purge._kept_events`): the partition is
   replaced by a new one holding only them, with their ids.

A partition whose locks are not granted within :data:`LOCK_TIMEOUT_MS` (a long
transaction reads or writes it, or a deadlock with a writer of that month) is
left for the batched DELETE that :func:`flightlog.ops.purge.purge` runs next
on whatever is older than the cutoff: the edge month, and anything left.
On SQLite, and on a table that is not partitioned, nothing happens here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    and_,
    column,
    false,
    func,
    insert,
    not_,
    select,
    true,
    update,
)
from sqlalchemy import (
    table as table_clause,
)
from sqlalchemy.exc import DBAPIError

from flightlog.db.partition_layout import bounds, partition_name
from flightlog.db.partitions import forget, read_catalog

log = logging.getLogger(__name__)

#: How long one partition's purge waits for its locks before leaving it to the DELETE.
LOCK_TIMEOUT_MS = 5000
Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class Dropped:
    """What dropping whole partitions removed from one table."""

    partitions: tuple[str, ...] = ()
    rows: int = 0


def droppable(connection: Connection, table: str, cutoff: datetime) -> list[int]:
    """Slots of ``table``'s partitions whose whole range is before ``cutoff``, oldest first."""
    if connection.dialect.name != "postgresql":
        return []
    catalog = read_catalog(connection, table)
    if catalog is None or not catalog.partitioned:
        return []
    return sorted(slot for slot in catalog.slots if bounds(slot).before(cutoff))


def drop_whole_partitions(
    engine: Engine,
    *,
    table: Any,
    timestamp: Any,
    cutoff: datetime,
    kept: ColumnElement[bool] | None,
    progress: Progress | None = None,
) -> Dropped:
    """Drop (or shrink to their kept rows) the partitions wholly before ``cutoff``."""
    if engine.dialect.name != "postgresql":
        return Dropped()
    with engine.connect() as connection:
        slots = droppable(connection, table.name, cutoff)
    names: list[str] = []
    removed = 0
    for slot in slots:
        try:
            with engine.begin() as connection:
                connection.exec_driver_sql(f"SET LOCAL lock_timeout = {LOCK_TIMEOUT_MS}")
                rows = _drop_one(connection, table, timestamp, slot, kept)
        except DBAPIError as exc:
            log.warning(
                "purge left %s to the batched delete: %s", partition_name(table.name, slot), exc
            )
            continue
        if rows is None:
            continue
        names.append(partition_name(table.name, slot))
        removed += rows
        if progress is not None and rows:
            progress(table.name, rows)
    if names:
        forget(engine)
    return Dropped(tuple(names), removed)


def _in_range(timestamp: Any, slot: int) -> ColumnElement[bool]:
    """The partition's range as a condition on the parent (PostgreSQL prunes to it)."""
    span = bounds(slot)
    upper = timestamp < span.upper if span.upper is not None else true()
    return upper if span.lower is None else and_(timestamp >= span.lower, upper)


def _drop_one(
    connection: Connection, table: Any, timestamp: Any, slot: int, kept: ColumnElement[bool] | None
) -> int | None:
    """One partition, in the caller's transaction: the number of rows removed, or None when
    there was nothing to remove (or another purge got there first)."""
    catalog = read_catalog(connection, table.name)
    name = partition_name(table.name, slot)
    if catalog is None or slot not in catalog.slots:
        return None
    qualified = f'"{catalog.schema}"."{name}"'
    connection.exec_driver_sql(f"LOCK TABLE {qualified} IN SHARE MODE")
    in_range = _in_range(timestamp, slot)
    keeping = func.count().filter(kept) if kept is not None else func.count().filter(false())
    counted = select(func.count(), keeping).select_from(table).where(in_range)
    total, kept_rows = connection.execute(counted).one()
    if kept_rows and kept_rows == total:
        return None  # only kept rows (a partition an earlier purge left them in)
    going = in_range if kept is None else and_(in_range, not_(kept))
    if "parent_event_id" in table.c:
        _orphan_children(connection, table, going, staying=not_(going))
    if kept is not None and kept_rows:
        _keep_only(connection, table, catalog.schema, slot, and_(in_range, kept))
    else:
        connection.exec_driver_sql(f"DROP TABLE {qualified}")
    return int(total) - int(kept_rows)


def _orphan_children(
    connection: Connection, table: Any, going: ColumnElement[bool], staying: ColumnElement[bool]
) -> None:
    """Children that stay lose their reference to a parent that goes (ON DELETE SET NULL).

    Bounded by the going ids' range, so PostgreSQL reads the parent index's
    range in each partition rather than joining every event with the month.
    """
    low, high = connection.execute(
        select(func.min(table.c.id), func.max(table.c.id)).where(going)
    ).one()
    if low is None:
        return
    parent = table.c.parent_event_id
    connection.execute(
        update(table)
        .where(parent.between(low, high), parent.in_(select(table.c.id).where(going)), staying)
        .values(parent_event_id=None)
    )


def _keep_only(
    connection: Connection, table: Any, schema: str, slot: int, keep: ColumnElement[bool]
) -> None:
    """Replace the partition by one holding only its kept rows (same ids, same range)."""
    name = partition_name(table.name, slot)
    qualified, parent = f'"{schema}"."{name}"', f'"{schema}"."{table.name}"'
    connection.exec_driver_sql(
        f'CREATE TABLE "{schema}"."{name}_kept" '
        f"(LIKE {parent} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
    )
    names = [c.name for c in table.c]
    spare = table_clause(f"{name}_kept", *(column(n) for n in names), schema=schema)
    connection.execute(insert(spare).from_select(names, select(table).where(keep)))
    connection.exec_driver_sql(f"ALTER TABLE {parent} DETACH PARTITION {qualified}")
    connection.exec_driver_sql(f"DROP TABLE {qualified}")
    connection.exec_driver_sql(f'ALTER TABLE "{schema}"."{name}_kept" RENAME TO "{name}"')
    connection.exec_driver_sql(
        f"ALTER TABLE {parent} ATTACH PARTITION {qualified} {bounds(slot).sql()}"
    )


__all__ = ["Dropped", "drop_whole_partitions", "droppable"]

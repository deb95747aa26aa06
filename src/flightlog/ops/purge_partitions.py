"""Purge by partition on PostgreSQL: drop the months that lie wholly before the cutoff.

A batched DELETE of a month of telemetry writes every row to the WAL, leaves
dead tuples for VACUUM and fires the parent-reference trigger per batch; a
``DROP TABLE`` of the month's partition costs the same whatever it holds
(decision 0016, benchmark ``partitions``). So :func:`drop_whole_partitions`
handles all of Flightlog's partitions whose whole range lies before the
cutoff in one short transaction:

1. ``LOCK ... IN SHARE MODE`` on each: nobody writes there meanwhile
   (readers go on), so the rows counted (one scan) are the rows removed;
2. events only: children elsewhere whose parent is about to go get NULL,
   as the deleted parents' trigger does for a DELETE (ON DELETE SET NULL);
3. no kept rows: ``DROP TABLE``, one statement for all. Kept rows (a deleted
   customer's audit records, see :func:`flightlog.ops.purge._kept_events`): the
   partition is replaced by a new one holding only them, with their ids;
4. one commit. The exclusive lock ``DROP`` (or, for a month with kept rows,
   ``DETACH``) takes on the parent table is held from that statement to the
   commit only: milliseconds.

If the locks are not granted within :data:`LOCK_TIMEOUT_MS` (a long
transaction reads or writes the table, or a deadlock with a writer of an old
month), each partition is tried in a transaction of its own, and one that
still cannot be locked is left for the batched DELETE that
:func:`flightlog.ops.purge.purge` runs next on whatever is older than the
cutoff: the edge month, and anything left.
On SQLite, and on a table that is not partitioned, nothing happens here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Engine,
    and_,
    column,
    func,
    insert,
    literal,
    not_,
    null,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy import (
    table as table_clause,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import visitors
from sqlalchemy.sql.expression import TableClause

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


def would_drop(
    connection: Connection, table: Any, cutoff: datetime, kept: ColumnElement[bool] | None
) -> list[str]:
    """The partitions a purge would drop or shrink: wholly before ``cutoff``, holding a row
    that is not kept (a dry run's answer; one short probe per partition)."""
    if connection.dialect.name != "postgresql":
        return []
    catalog = read_catalog(connection, table.name)
    if catalog is None or not catalog.partitioned:
        return []
    names = []
    for slot in sorted(slot for slot in catalog.slots if bounds(slot).before(cutoff)):
        name = partition_name(table.name, slot)
        part = _partition_clause(table, catalog.schema, name)
        probe = select(true()).select_from(part).limit(1)
        if kept is not None:
            probe = probe.where(not_(_on(kept, table, part)))
        if connection.scalar(probe) is not None:
            names.append(name)
    return names


def drop_whole_partitions(
    engine: Engine,
    *,
    table: Any,
    timestamp: Any,
    cutoff: datetime,
    kept: ColumnElement[bool] | None,
    progress: Progress | None = None,
) -> Dropped:
    """Drop (or shrink to their kept rows) the partitions wholly before ``cutoff``.

    All of them in one transaction (one count, one pass over the children, one
    commit); if its locks are not granted in time, one partition at a time, and
    what still cannot be locked is left to the batched DELETE.
    """
    if engine.dialect.name != "postgresql":
        return Dropped()
    with engine.connect() as connection:
        slots = droppable(connection, table.name, cutoff)
    if not slots:
        return Dropped()
    try:
        done = _in_a_transaction(engine, table, timestamp, slots, kept)
    except DBAPIError as exc:
        log.warning("purge could not drop the old partitions at once: %s", exc.orig)
        done = {}
        for slot in slots if len(slots) > 1 else []:
            try:
                done.update(_in_a_transaction(engine, table, timestamp, [slot], kept))
            except DBAPIError as late:
                name = partition_name(table.name, slot)
                log.warning("purge left %s to the batched delete: %s", name, late.orig)
    if progress is not None:
        for rows in done.values():
            if rows:
                progress(table.name, rows)
    if done:
        forget(engine)
    names = tuple(partition_name(table.name, slot) for slot in sorted(done))
    return Dropped(names, sum(done.values()))


def _in_a_transaction(
    engine: Engine, table: Any, timestamp: Any, slots: list[int], kept: ColumnElement[bool] | None
) -> dict[int, int]:
    with engine.begin() as connection:
        connection.exec_driver_sql(f"SET LOCAL lock_timeout = {LOCK_TIMEOUT_MS}")
        return _drop(connection, table, timestamp, slots, kept)


def _in_range(timestamp: Any, slot: int) -> ColumnElement[bool]:
    """The partition's range as a condition on the parent (PostgreSQL prunes to it)."""
    span = bounds(slot)
    upper = timestamp < span.upper if span.upper is not None else true()
    return upper if span.lower is None else and_(timestamp >= span.lower, upper)


def _drop(
    connection: Connection,
    table: Any,
    timestamp: Any,
    slots: list[int],
    kept: ColumnElement[bool] | None,
) -> dict[int, int]:
    """The partitions of ``slots``, in the caller's transaction: rows removed per slot done
    (a partition holding only kept rows, or gone already, is not done)."""
    catalog = read_catalog(connection, table.name)
    if catalog is None:
        return {}
    slots = [slot for slot in slots if slot in catalog.slots]
    for slot in slots:
        name = partition_name(table.name, slot)
        connection.exec_driver_sql(f'LOCK TABLE "{catalog.schema}"."{name}" IN SHARE MODE')
    if not slots:
        return {}
    in_range = or_(*(_in_range(timestamp, slot) for slot in slots))
    referenced = "parent_event_id" in table.c
    counts, ids = _census(connection, table, catalog.schema, slots, kept, with_ids=referenced)
    going = in_range if kept is None else and_(in_range, not_(kept))
    if referenced and ids is not None:
        _orphan_children(connection, table, going, staying=not_(going), ids=ids)
    done: dict[int, int] = {}
    doomed: list[str] = []
    for slot in slots:
        total, kept_rows = counts[slot]
        if kept is not None and kept_rows:
            if kept_rows < total:
                _keep_only(
                    connection, table, catalog.schema, slot, and_(_in_range(timestamp, slot), kept)
                )
                done[slot] = total - kept_rows
            continue  # only kept rows: nothing to remove
        doomed.append(f'"{catalog.schema}"."{partition_name(table.name, slot)}"')
        done[slot] = total
    if doomed:
        connection.exec_driver_sql(f"DROP TABLE {', '.join(doomed)}")
    return done


def _census(
    connection: Connection,
    table: Any,
    schema: str,
    slots: list[int],
    kept: ColumnElement[bool] | None,
    *,
    with_ids: bool,
) -> tuple[dict[int, tuple[int, int]], tuple[int, int] | None]:
    """Per slot (rows, kept rows), and with ``with_ids`` the lowest and highest id of them
    all (None when empty or not asked), in one statement over the locked partitions.

    Each partition is read directly, with nothing to test per row: PostgreSQL counts a
    vacuumed month from its smallest index, finds its lowest and highest id at the two
    ends of its primary key, and the kept rows (few) by index.
    """
    parts = []
    for slot in slots:
        part = _partition_clause(table, schema, partition_name(table.name, slot))
        kept_rows: Any = literal(0)
        if kept is not None:
            kept_rows = (
                select(func.count()).select_from(part).where(_on(kept, table, part))
            ).scalar_subquery()
        low: Any = null()
        high: Any = null()
        if with_ids:
            low = select(func.min(part.c.id)).scalar_subquery()
            high = select(func.max(part.c.id)).scalar_subquery()
        parts.append(
            select(
                literal(slot),
                select(func.count()).select_from(part).scalar_subquery(),
                kept_rows,
                low,
                high,
            )
        )
    counts: dict[int, tuple[int, int]] = {}
    lows, highs = [], []
    for slot, total, kept_count, low, high in connection.execute(union_all(*parts)):
        counts[int(slot)] = (int(total or 0), int(kept_count or 0))
        if low is not None:
            lows.append(int(low))
            highs.append(int(high))
    return counts, ((min(lows), max(highs)) if lows else None)


def _partition_clause(table: Any, schema: str, name: str) -> TableClause:
    return table_clause(name, *(column(c.name, c.type) for c in table.c), schema=schema)


def _on(condition: ColumnElement[bool], table: Any, part: TableClause) -> ColumnElement[bool]:
    """``condition`` on the table's columns, rewritten onto the partition's."""

    def swap(element: Any, **_: Any) -> Any:
        if isinstance(element, Column) and element.table is table:
            return part.c[element.name]
        return None

    rewritten: ColumnElement[bool] = visitors.replacement_traverse(condition, {}, swap)
    return rewritten


def _orphan_children(
    connection: Connection,
    table: Any,
    going: ColumnElement[bool],
    staying: ColumnElement[bool],
    ids: tuple[int, int],
) -> None:
    """Children that stay lose their reference to a parent that goes (ON DELETE SET NULL).

    Bounded by ``ids``, the range of the partitions' ids (kept rows included: a wider
    range only reads more of the parent index), so PostgreSQL reads the parent index's
    range in each partition rather than joining every event with the month.
    """
    low, high = ids
    parent = table.c.parent_event_id
    # Children are rare: a SELECT is planned far faster than an UPDATE of every partition.
    probe = select(true()).select_from(table).where(parent.between(low, high)).limit(1)
    if connection.scalar(probe) is None:
        return
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


__all__ = ["Dropped", "drop_whole_partitions", "droppable", "would_drop"]

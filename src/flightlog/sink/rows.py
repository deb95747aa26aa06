"""Rows of the primary as sink rows: what is read, how each value is written, its fingerprint.

Reads are SQLAlchemy Core selects on the models' tables, so both dialects give
the same Python values (UUIDs, aware datetimes, Decimals, parsed JSON) and
every value is written the same way whatever the source: UUIDs as text, times
as ``DateTime64(6)`` text, decimals to six places, JSON with sorted keys,
non-finite floats as ``nan``/``inf``. A row's fingerprint is a 64-bit hash of
those cells: the sink keeps it beside the row (``_hash``), which is how the
sweep finds rows that changed, and ``flightlog sink verify`` recomputes it from
what the sink returns to compare with the primary.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, Table, Text, cast, func, select
from sqlalchemy.orm import Session, aliased

from flightlog.db.engine import SQLITE_BEGIN_MODE
from flightlog.models import AgentRun, Event, MetricPoint, Task, TaskRun
from flightlog.sink.schema import BY_NAME, Kind, SinkTable
from flightlog.sink.statements import time_text

NO_CUSTOMER = str(uuid.UUID(int=0))
_MICRO = Decimal("0.000001")
#: Ids per ``IN (...)`` when rows are re-read by id.
ID_CHUNK = 500


def _json(value: Any) -> str:
    """JSON as the primary's text (read with a CAST, unparsed), or a value's canonical text."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _float(value: Any) -> float | str:
    number = float(value)
    if math.isfinite(number):
        return number
    return "nan" if math.isnan(number) else ("inf" if number > 0 else "-inf")


def _text(value: Any) -> str:
    return str(value.value) if isinstance(value, Enum) else str(value)


_ENCODERS: dict[Kind, Callable[[Any], Any]] = {
    "uint": int,
    "int": int,
    "uuid": str,
    "time": time_text,
    "float": _float,
    "decimal": lambda value: str(Decimal(value).quantize(_MICRO)),
    "text": _text,
    "json": _json,
}


@cache
def encoders(table: str) -> tuple[Callable[[Any], Any], ...]:
    """One function per payload column of ``table`` turning a primary value into its cell."""
    return tuple(_ENCODERS[column.kind] for column in BY_NAME[table].payload)


def encode(table: SinkTable, values: Sequence[Any]) -> list[Any]:
    """The payload cells of one primary row (values in :attr:`SinkTable.payload` order)."""
    cells = [
        None if value is None else encoder(value)
        for encoder, value in zip(encoders(table.name), values, strict=True)
    ]
    if cells[1] is None:
        cells[1] = NO_CUSTOMER  # an audit event of a deleted customer belongs to none
    return cells


def fingerprint(cells: Sequence[Any]) -> int:
    """64 bits of BLAKE2b over the cells as JSON: equal cells, equal fingerprint."""
    digest = hashlib.blake2b(
        json.dumps(list(cells), separators=(",", ":"), ensure_ascii=False).encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big")


def sink_row(cells: list[Any], version: int) -> list[Any]:
    """A row as inserted: payload, fingerprint, version, not deleted."""
    return [*cells, fingerprint(cells), version, 0]


def appended_row(cells: list[Any]) -> list[Any]:
    """An append-only row (event, metric point) as inserted: it never changes, so its
    version is 1 and no fingerprint is kept (its sweep compares ids only)."""
    return [*cells, 0, 1, 0]


def canonical(table: SinkTable, cells: Sequence[Any]) -> list[Any]:
    """Cells read back from the sink (JSONCompact) in the form :func:`encode` writes them."""
    out: list[Any] = []
    for column, value in zip(table.payload, cells, strict=True):
        if value is None:
            out.append(None)
        elif column.kind == "decimal":
            out.append(str(Decimal(str(value)).quantize(_MICRO)))
        elif column.kind == "float":
            out.append(value if isinstance(value, str) else float(value))
        elif column.kind in ("uint", "int"):
            out.append(int(value))
        else:
            out.append(value)
    return out


# --- Reading the primary ------------------------------------------------------------------------


def reading(engine: Engine) -> Engine:
    """``engine`` for reads only: on SQLite a deferred BEGIN, so the sink never takes the
    write lock from the application's writers (Flightlog's engines begin IMMEDIATE)."""
    return engine.execution_options(**{SQLITE_BEGIN_MODE: "DEFERRED"})


def _source_table(table: SinkTable) -> Table:
    model: Any = {
        "events": Event,
        "metric_points": MetricPoint,
        "agent_runs": AgentRun,
        "task_runs": TaskRun,
    }[table.name]
    found: Table = model.__table__
    return found


def _customer(table: SinkTable) -> tuple[ColumnElement[Any], Callable[[Select[Any]], Select[Any]]]:
    """The customer of a row (from its task) and the joins that give it."""
    source = _source_table(table)
    if table.name == "events":
        return source.c.customer_id, lambda stmt: stmt
    if table.name == "metric_points":
        direct, via_run_task = aliased(Task), aliased(Task)
        run = aliased(TaskRun)

        def joined(stmt: Select[Any]) -> Select[Any]:
            return (
                stmt.outerjoin(direct, direct.id == source.c.task_id)
                .outerjoin(run, run.id == source.c.run_id)
                .outerjoin(via_run_task, via_run_task.id == run.task_id)
            )

        return func.coalesce(direct.customer_id, via_run_task.customer_id), joined
    owner = aliased(Task)
    column: ColumnElement[Any] = owner.customer_id.expression
    return column, lambda stmt: stmt.join(owner, owner.id == source.c.task_id)


def source_select(table: SinkTable) -> Select[Any]:
    """SELECT of the payload columns (in order) from the primary, joins included."""
    source = _source_table(table)
    customer, join = _customer(table)
    columns: list[Any] = [source.c.id, customer, source.c[table.time_source]]
    # JSON is read as the database's text: parsing it only to write it again costs more
    # than the rest of the row (the text is what the sink stores).
    columns += [
        cast(source.c[c.name], Text) if c.kind == "json" else source.c[c.name]
        for c in table.columns
    ]
    return join(select(*columns).select_from(source))


def id_column(table: SinkTable) -> Any:
    return _source_table(table).c.id


def rows_after(
    session: Session, table: SinkTable, after: int | str, upto: int | None, limit: int
) -> list[Sequence[Any]]:
    """Rows with ids after ``after`` (and up to ``upto``), in id order, at most ``limit``.

    For UUID ids, ``after`` is their text ('' before the first): the primary orders
    UUIDs as their bytes, which is the order of their text.
    """
    column = id_column(table)
    stmt = source_select(table)
    if table.id_kind == "uint":
        stmt = stmt.where(column > int(after))
    elif after:
        stmt = stmt.where(column > uuid.UUID(str(after)))
    if upto is not None:
        stmt = stmt.where(column <= upto)
    return list(session.execute(stmt.order_by(column).limit(limit)).tuples().all())


def ids_after(session: Session, table: SinkTable, after: int, upto: int, limit: int) -> list[int]:
    """Ids of an append-only table in ``(after, upto]``, in order, at most ``limit``."""
    column = id_column(table)
    stmt = select(column).where(column > after, column <= upto).order_by(column).limit(limit)
    return [int(found) for found in session.scalars(stmt).all()]


def rows_by_id(session: Session, table: SinkTable, ids: Iterable[uuid.UUID]) -> list[Sequence[Any]]:
    """The rows (of a mutable table) with these ids that still exist."""
    wanted = sorted(set(ids))
    found: list[Sequence[Any]] = []
    column = id_column(table)
    for start in range(0, len(wanted), ID_CHUNK):
        part = wanted[start : start + ID_CHUNK]
        found += session.execute(source_select(table).where(column.in_(part))).tuples().all()
    return found


def oldest_by_customer(session: Session, table: SinkTable, upto: int) -> dict[str, str]:
    """Each customer's oldest row time (as sink text) among ids up to ``upto``: the metric
    floor of a sink whose points were copied before the floor was kept."""
    source = _source_table(table)
    customer, join = _customer(table)
    stmt = join(select(customer, func.min(source.c[table.time_source])).select_from(source)).where(
        source.c.id <= upto
    )
    found: dict[str, str] = {}
    for owner, oldest in session.execute(stmt.group_by(customer)).tuples():
        if oldest is not None:
            found[NO_CUSTOMER if owner is None else str(owner)] = time_text(oldest)
    return found

"""The small-write path: a few events in one INSERT that also checks the tenant.

Agents mostly write one event at a time. Through the batch path one event cost
a transaction of up to nine statements on PostgreSQL (the write guard, the
transaction id twice, a savepoint, ``now()``, one ownership query per kind of
reference, the sequence, the ids, a COPY of one row); through the ORM it cost
SQLAlchemy's unit of work, several times the database's own time (issue 13).

Here the rows, prepared exactly as the batch path prepares them
(:func:`flightlog.ingest.events.event_preparer`), go into one
``INSERT … SELECT … WHERE <checks> RETURNING id, created_at`` whose ``WHERE``
is what the write guard and :func:`~flightlog.services.ownership.assert_owned`
would check: the customer is ACTIVE, and every task, run, agent run, agent and
parent event named belongs to it. The condition does not depend on the row,
so the statement inserts all rows or none: it is atomic without a savepoint.
When it inserts none, the caller runs the declared service instead, which
finds the same refusal and raises its precise, typed error; so this path
never words an error of its own and cannot disagree with the declared one.

One event on SQLite runs the same checks as queries of their own, then a
plain INSERT and a read-back, in one transaction (see :class:`OneStatement`).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import configure_mappers, instrumentation
from sqlalchemy.orm.attributes import instance_state

from flightlog.enums import CustomerStatus
from flightlog.ingest._codec import SQLITE_NOW, Codec, codec_for
from flightlog.ingest._pipeline import DEFAULT_CHUNK_SIZE, Row
from flightlog.ingest.events import EVENT_COLUMNS, EVENTS, event_preparer, model_row
from flightlog.models import Event
from flightlog.services.events import NewEvent, validate_event

#: At most this many rows take the small path; larger batches take COPY / executemany.
SMALL_BATCH = 64

#: How a driver marks parameters: sqlite3 ``?``, asyncpg ``$n``, psycopg ``%s``.
ParamStyle = Literal["qmark", "numeric_dollar", "format"]
R = TypeVar("R")

#: Each referenced kind: its position in a prepared row, and the query counting owned ids.
_OWNERSHIP = (
    (1, "SELECT count(*) FROM tasks WHERE customer_id = {c} AND id IN ({ids})"),
    (
        2,
        "SELECT count(*) FROM task_runs JOIN tasks ON tasks.id = task_runs.task_id "
        "WHERE tasks.customer_id = {c} AND task_runs.id IN ({ids})",
    ),
    (
        3,
        "SELECT count(*) FROM agent_runs JOIN tasks ON tasks.id = agent_runs.task_id "
        "WHERE tasks.customer_id = {c} AND agent_runs.id IN ({ids})",
    ),
    (4, "SELECT count(*) FROM agents WHERE customer_id = {c} AND id IN ({ids})"),
    (5, "SELECT count(*) FROM events WHERE customer_id = {c} AND id IN ({ids})"),
)
_ACTIVE = CustomerStatus.ACTIVE.value
_STATUS = "SELECT status FROM customers WHERE id = {c}"


def _postgres_types() -> dict[str, str]:
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    table = Event.__table__
    return {name: table.c[name].type.compile(dialect=dialect) for name in ("id", *EVENT_COLUMNS)}


_PG_TYPES = _postgres_types()
_EVENT_MANAGER = instrumentation.manager_of_class(Event)
_EVENT_MAPPER = Event.__mapper__


@dataclass(frozen=True)
class Check:
    """A query whose one value must equal ``expected`` for the write to go ahead."""

    sql: str
    params: tuple[Any, ...]
    expected: object


@dataclass(frozen=True)
class OneStatement(Generic[R]):
    """A write that is one statement, and how to read its result.

    ``finish`` gets the rows the statement returned and gives the call's
    result, or None when nothing was written (then the declared service runs).

    One row on SQLite is written another way, in the same ``BEGIN IMMEDIATE``
    … ``COMMIT``: the ``checks`` first, each a statement of its own, then a
    plain ``INSERT … VALUES`` and ``read_back``, whose rows ``finish`` gets.
    SQLite runs RETURNING as a trigger that sends the row through a temporary
    table: ~0.03 ms of a write whose own statements, run this way, cost what
    the raw driver's do (~0.1 ms). Nothing is lost by splitting: SQLite runs
    its statements in-process, and the write lock, taken by BEGIN IMMEDIATE,
    keeps any other writer from changing what the checks read before the
    INSERT.
    """

    sql: str
    params: tuple[Any, ...]
    finish: Callable[[list[tuple[Any, ...]]], R | None]
    checks: tuple[Check, ...] = ()
    read_back: str | None = None


class _Marks:
    """Placeholders in the driver's style, numbered in the order the values are given."""

    def __init__(self, style: ParamStyle) -> None:
        self.style = style
        self.count = 0

    def next(self, pg_type: str | None = None) -> str:
        self.count += 1
        if self.style == "qmark":
            return "?"
        mark = f"${self.count}" if self.style == "numeric_dollar" else "%s"
        return f"{mark}::{pg_type}" if pg_type else mark


def _row_sql(marks: _Marks, dialect: str) -> str:
    clock = EVENTS.clock_column
    parts = []
    for position, name in enumerate(EVENT_COLUMNS):
        mark = marks.next(_PG_TYPES[name] if dialect == "postgresql" else None)
        if position == clock:
            mark = f"coalesce({mark}, {'now()' if dialect == 'postgresql' else SQLITE_NOW})"
        parts.append(mark)
    return ", ".join(parts)


@functools.lru_cache(maxsize=256)
def _statement(dialect: str, style: ParamStyle, rows: int, distinct: tuple[int, ...]) -> str:
    """The statement's text for a shape: how many rows, how many distinct ids of each kind.

    Built once per shape (the values are parameters), so the drivers' statement
    caches hit as well.
    """
    marks = _Marks(style)
    values = ", ".join(f"({_row_sql(marks, dialect)})" for _ in range(rows))
    postgres = dialect == "postgresql"
    uuid_type = "uuid" if postgres else None
    checks = [
        f"({_STATUS.format(c=marks.next(uuid_type))}) = "
        + marks.next("varchar" if postgres else None)
    ]
    for (position, count_sql), count in zip(_OWNERSHIP, distinct, strict=True):
        if not count:
            continue
        id_type = ("bigint" if position == 5 else uuid_type) if postgres else None
        c = marks.next(uuid_type)
        ids = ", ".join(marks.next(id_type) for _ in range(count))
        checks.append(f"({count_sql.format(c=c, ids=ids)}) = {count}")
    sources = f"(VALUES {values}) AS v"
    if postgres:
        # The transaction takes its id before any row's id is drawn, as every Flightlog
        # write transaction does (flightlog.services.event_feed): ``tx`` is produced before
        # the join yields a row, and the ids' defaults are evaluated on joined rows only.
        sources = f"(SELECT pg_current_xact_id() AS xid) AS tx, {sources}"
        checks.insert(0, "tx.xid IS NOT NULL")
    return (
        f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) SELECT v.* FROM {sources} "
        f"WHERE {' AND '.join(checks)} RETURNING id, created_at"
    )


#: The row a plain INSERT just wrote on SQLite (``id`` is the table's rowid).
_READ_BACK = "SELECT id, created_at FROM events WHERE id = last_insert_rowid()"
#: The checks of one row on SQLite: the customer's status, then one id of each kind.
_SQLITE_STATUS = _STATUS.format(c="?")
_SQLITE_OWNED = tuple(count_sql.format(c="?", ids="?") for _, count_sql in _OWNERSHIP)


def _events_write(
    rows: Sequence[Row],
    customer: Any,
    dialect: str,
    style: ParamStyle,
    finish: Callable[[list[tuple[Any, ...]]], R | None],
) -> OneStatement[R]:
    """What writes ``rows`` for ``customer`` (driver form), or nothing."""
    if dialect == "sqlite" and len(rows) == 1:
        row = rows[0]
        checks = [Check(_SQLITE_STATUS, (customer,), _ACTIVE)]
        for (position, _), sql in zip(_OWNERSHIP, _SQLITE_OWNED, strict=True):
            if row[position] is not None:
                checks.append(Check(sql, (customer, row[position]), 1))
        return OneStatement(_sqlite_insert(), row, finish, tuple(checks), _READ_BACK)
    params: list[Any] = [value for row in rows for value in row]
    params += (customer, _ACTIVE)
    distinct = []
    for position, _ in _OWNERSHIP:
        ids = list(dict.fromkeys(row[position] for row in rows if row[position] is not None))
        distinct.append(len(ids))
        if ids:
            params.append(customer)
            params += ids
    sql = _statement(dialect, style, len(rows), tuple(distinct))
    return OneStatement(sql, tuple(params), finish)


@functools.cache
def _sqlite_insert() -> str:
    values = _row_sql(_Marks("qmark"), "sqlite")
    return f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({values})"


def _ordered(returned: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The returned rows in input order.

    Ids grow in insertion order, and one statement inserts its rows in the
    order of its VALUES (SQLite under its write lock; PostgreSQL draws each
    row's ``nextval`` as the row is inserted), the same premise the batch path
    rests on when it hands out ids.
    """
    return sorted(returned, key=lambda row: int(row[0]))


def _stored_time(value: Any) -> datetime:
    """``created_at`` as the ORM reads it: aware UTC (SQLite returns its stored text)."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def plan_event(
    dialect: str,
    style: ParamStyle,
    customer_id: uuid.UUID,
    max_payload_bytes: int,
    /,
    event: NewEvent | dict[str, Any],
) -> OneStatement[Event]:
    """``services.events.append_event`` as one statement (same validation, same row)."""
    codec = codec_for(dialect)
    valid = validate_event(event, max_payload_bytes=max_payload_bytes)
    customer = codec.encode_uuid(customer_id)

    def finish(returned: list[tuple[Any, ...]]) -> Event | None:
        if not returned:
            return None
        (new_id, created_at), *_ = returned
        return _event_object(valid, customer_id, int(new_id), _stored_time(created_at))

    row = model_row(valid, codec, customer, None)
    return _events_write([row], customer, dialect, style, finish)


def plan_events(
    dialect: str,
    style: ParamStyle,
    customer_id: uuid.UUID,
    max_payload_bytes: int,
    /,
    events: Iterable[NewEvent | dict[str, Any]],
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> OneStatement[list[int]] | None:
    """``ingest_events_returning_ids`` of a short list as one statement; None otherwise.

    Only a list or tuple is taken (an iterator consumed here could not be given
    back to the declared path); ``chunk_size`` cannot matter below ``SMALL_BATCH``.
    """
    if not isinstance(events, list | tuple) or not 0 < len(events) <= SMALL_BATCH:
        return None
    del chunk_size
    codec: Codec = codec_for(dialect)
    prepare = event_preparer(codec, customer_id, max_payload_bytes)
    rows = [prepare(raw, index) for index, raw in enumerate(events)]

    def finish(returned: list[tuple[Any, ...]]) -> list[int] | None:
        if not returned:
            return None
        return [int(row[0]) for row in _ordered(returned)]

    return _events_write(rows, codec.encode_uuid(customer_id), dialect, style, finish)


def _event_object(
    valid: NewEvent, customer_id: uuid.UUID, new_id: int, created_at: datetime
) -> Event:
    """The stored event as the ORM would have returned it: detached, every column loaded.

    Built as the ORM builds a row it loaded (values straight into the instance's
    dict), not through the constructor, whose per-attribute events cost more
    than the write's own statement.
    """
    if not _EVENT_MAPPER.configured:
        # A Store opened for a known customer may write before any query has made
        # SQLAlchemy configure its mappers; until then the instance's attributes do
        # not work (make_transient_to_detached used to configure them on its way).
        configure_mappers()
    event: Event = _EVENT_MANAGER.new_instance()
    values = event.__dict__
    values.update(valid.__dict__)
    values.update(id=new_id, customer_id=customer_id, created_at=created_at)
    # What make_transient_to_detached would leave, without its passes over every
    # attribute: values in the dict are unmodified, every column is loaded, and only the
    # identity key is missing.
    instance_state(event).key = _EVENT_MAPPER.identity_key_from_primary_key((new_id,))
    return event

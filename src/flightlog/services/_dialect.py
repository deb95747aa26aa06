"""The few SQL expressions that must be spelled differently per dialect."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, cast, exists, func, literal, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement


def dialect_name(session: Session) -> str:
    bind = session.get_bind()
    return bind.dialect.name


def equals_constant(column: Any, value: str) -> ColumnElement[bool]:
    """``column = 'value'`` with the value written into the SQL text, not bound.

    A partial index (``... WHERE status = 'PENDING'``, migration 0009) serves
    only queries whose WHERE clause implies its predicate. SQLite proves that
    from the SQL text alone, and PostgreSQL cannot from a bound parameter once
    it caches a generic plan for a prepared statement (asyncpg prepares every
    statement), so the queues' status filters are rendered as constants. Only
    for values from Flightlog's own enums, never a caller's text.
    """
    clause: ColumnElement[bool] = column == literal(value, column.type, literal_execute=True)
    return clause


def json_array_contains(session: Session, column: Any, value: str) -> ColumnElement[bool]:
    """``value`` is an element of the JSON array in ``column``.

    PostgreSQL uses JSONB containment (served by the GIN index); SQLite
    expands the array with ``json_each``.
    """
    if dialect_name(session) == "postgresql":
        contains: ColumnElement[bool] = column.op("@>")(cast(func.jsonb_build_array(value), JSONB))
        return contains
    each = func.json_each(column).table_valued("value").alias("tag_values")
    return exists(select(literal(1)).select_from(each).where(each.c.value == value))


def epoch_bucket(session: Session, column: Any, bucket_seconds: int) -> ColumnElement[int]:
    """The index of the ``bucket_seconds``-wide time bucket a timestamp falls in."""
    if dialect_name(session) == "postgresql":
        return cast(func.floor(func.extract("epoch", column) / bucket_seconds), Integer)
    # Whole seconds only: strftime would round the fraction and push xx:59.9995 forward.
    seconds = cast(func.strftime("%s", func.substr(column, 1, 19)), Integer)
    # SQLite's integer division truncates toward zero; floor it like PostgreSQL does.
    remainder = ((seconds % bucket_seconds) + bucket_seconds) % bucket_seconds
    return cast((seconds - remainder) / bucket_seconds, Integer)


def bucket_after(
    session: Session, column: Any, origin: datetime, bucket_seconds: int
) -> ColumnElement[int]:
    """The index of the ``bucket_seconds``-wide window after ``origin`` a timestamp falls in.

    For timestamps at or after ``origin``, which callers filter on. ``origin`` should be
    a whole second: SQLite's arithmetic is in whole seconds (as in :func:`epoch_bucket`),
    and then both dialects put every timestamp in the same window.
    """
    if dialect_name(session) == "postgresql":
        elapsed = func.extract("epoch", column - literal(origin, column.type))
        return cast(func.floor(elapsed / bucket_seconds), Integer)
    seconds = cast(func.strftime("%s", func.substr(column, 1, 19)), Integer)
    start = int(origin.astimezone(UTC).timestamp())
    return cast((seconds - start) / bucket_seconds, Integer)


def lock_for_customer(session: Session, scope: str, customer_id: Any) -> None:
    """Serialise writers of one customer's ``scope`` (PostgreSQL advisory lock).

    SQLite needs nothing: ``BEGIN IMMEDIATE`` already serialises writers.
    """
    if dialect_name(session) == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
            {"key": f"flightlog:{scope}:{customer_id}"},
        )


#: The most names :func:`lock_names_for_customer` locks one by one: a call with more
#: locks their whole scope instead, so one transaction cannot fill PostgreSQL's lock
#: table (``max_locks_per_transaction``, 64 per connection by default, shared by all).
NAME_LOCKS = 32


def lock_names_for_customer(
    session: Session, scope: str, customer_id: Any, names: Iterable[str]
) -> None:
    """Serialise writers of the same names in one customer's ``scope`` (PostgreSQL).

    Transaction-scoped advisory locks. The scope's own lock comes first: shared,
    and then one lock per name, taken in one statement in the order of the locks'
    keys, so two transactions that share names take them in the same order and
    cannot deadlock on them; or, for more than :data:`NAME_LOCKS` names, the
    scope's lock alone, exclusively. Names whose keys hash alike share a lock,
    which only makes their writers queue. SQLite needs nothing: ``BEGIN
    IMMEDIATE`` already serialises writers.
    """
    wanted = sorted({f"flightlog:{scope}:{customer_id}:{name}" for name in names})
    if not wanted or dialect_name(session) != "postgresql":
        return
    alone = len(wanted) > NAME_LOCKS
    take = "pg_advisory_xact_lock" if alone else "pg_advisory_xact_lock_shared"
    session.execute(
        text(f"SELECT {take}(hashtextextended(:key, 0))"),
        {"key": f"flightlog:{scope}:{customer_id}"},
    )
    if not alone:
        session.execute(
            text(
                "SELECT count(pg_advisory_xact_lock(lock_key)) FROM ("
                "SELECT DISTINCT hashtextextended(name, 0) AS lock_key"
                " FROM unnest(CAST(:names AS text[])) AS name ORDER BY lock_key) AS ordered"
            ),
            {"names": wanted},
        )

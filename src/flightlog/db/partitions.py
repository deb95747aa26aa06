"""Monthly partitions of ``events`` and ``metric_points`` on PostgreSQL, made before use.

PostgreSQL refuses a row for which no partition exists ("no partition of
relation ... found for row"), so every writer makes sure the months it writes
exist before its INSERT or COPY (decision 0016). Most rows take the database
clock, whose month is kept ready ahead; rows that carry their own time (a
replay, an import, OTLP spans, a backfill) may need any month, made then.

* **Cheap when nothing is missing.** This process remembers, per database, the
  partitions it has seen committed in the catalog; a write whose months are all
  remembered costs a set lookup. Past months are always read back from the
  catalog (one query), since a purge in another process may have dropped them.
* **Needed now: in the writer's transaction.** A missing month is created by
  the transaction that needs it, under a per-table advisory lock, after a
  second look at the catalog: two writers that need the same month do not both
  create it, and neither fails. Creating a partition takes a SHARE ROW
  EXCLUSIVE lock on the tables the foreign keys point at (customers, tasks,
  runs, agent runs, agents) until the writer commits; writes to those wait
  that long. A transaction that rolls back takes its partitions with it, so
  what a transaction created is remembered only once another one sees it.
* **Ahead: never in the writer's way.** The current month and the next
  :data:`~flightlog.db.partition_layout.AHEAD_MONTHS` are made by the
  migration, by ``flightlog purge``, and, when a writer finds one missing, as
  the next transaction on that database begins (before it holds any lock), on
  a connection of its own with a short lock timeout: if the locks are busy it
  gives up and tries again a minute later; the month it writes exists already.

The module also installs the hook that makes every SQLAlchemy INSERT into a
partitioned table (ORM flushes, Core inserts, the importer) ensure its months
first; the COPY path (:mod:`flightlog.ingest._postgres`) calls
:func:`ensure_slots` itself. SQLite has no partitions: everything here is a
no-op there.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, event, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import BindParameter

from flightlog.db.engine import pool_has_room
from flightlog.db.partition_layout import (
    PARTITION_KEY_INFO,
    PARTITION_KEYS,
    ahead_slots,
    bounds,
    clock_slots,
    partition_name,
    slot_from_name,
    slot_of,
    slots_of,
)

log = logging.getLogger(__name__)

#: Advisory lock keys (transaction-scoped) that serialise creating one table's partitions.
LOCK_KEYS = {"events": 0x666C_7061_7274_0001, "metric_points": 0x666C_7061_7274_0002}
#: A writer that found the months ahead missing and could not make them waits this long
#: before its process tries again.
AHEAD_RETRY_SECONDS = 60.0
#: How long a writer's attempt to make the months ahead waits for locks.
AHEAD_LOCK_TIMEOUT_MS = 200
#: ``Connection.info`` key: the transaction that created partitions on this connection.
_CREATED_IN = "flightlog.partitions_created_in"

_CATALOG = text(
    "SELECT c.relkind::text, n.nspname::text, "
    "coalesce(array_agg(p.relname::text) FILTER (WHERE p.oid IS NOT NULL), '{}') "
    "FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
    "LEFT JOIN pg_inherits AS i ON i.inhparent = c.oid "
    "LEFT JOIN pg_class AS p ON p.oid = i.inhrelid "
    "WHERE c.oid = to_regclass(:table) GROUP BY c.relkind, n.nspname"
)


@dataclass(frozen=True)
class Catalog:
    """One table as the catalog shows it to the current transaction."""

    partitioned: bool
    schema: str
    #: Slots of the partitions attached that follow Flightlog's naming.
    slots: frozenset[int]
    #: Every attached partition's name, Flightlog's or not.
    names: tuple[str, ...] = ()


@dataclass
class _Known:
    """What this process has seen committed in one database; replaced, never mutated."""

    partitioned: dict[str, bool] = field(default_factory=dict)
    slots: dict[str, frozenset[int]] = field(default_factory=dict)
    ahead_retry_at: dict[str, float] = field(default_factory=dict)
    ahead_wanted: set[str] = field(default_factory=set)


_known: dict[str, _Known] = {}
_known_lock = threading.Lock()
#: Databases (keys of ``_known``) whose months ahead a writer found missing.
_wanted: set[str] = set()


def _database_key(connection: Connection | Engine) -> str:
    return connection.engine.url.render_as_string(hide_password=True)


def _database(connection: Connection | Engine) -> _Known:
    key = _database_key(connection)
    with _known_lock:
        return _known.setdefault(key, _Known())


def _remember(known: _Known, table: str, slots: frozenset[int] | set[int]) -> None:
    with _known_lock:
        known.slots[table] = known.slots.get(table, frozenset()) | frozenset(slots)


def forget(engine: Engine | Connection | None = None) -> None:
    """Drop what this process remembers (of one database, or of all): after a migration
    changed the tables, or in a test that removed partitions behind Flightlog's back."""
    with _known_lock:
        if engine is None:
            _known.clear()
            _wanted.clear()
        else:
            _known.pop(_database_key(engine), None)
            _wanted.discard(_database_key(engine))


def read_catalog(connection: Connection, table: str) -> Catalog | None:
    """``table``'s kind, schema and partitions; None when there is no such table."""
    row = connection.execute(_CATALOG, {"table": table}).first()
    if row is None:
        return None
    names = tuple(str(name) for name in row[2])
    slots = frozenset(
        slot for slot in (slot_from_name(table, name) for name in names) if slot is not None
    )
    return Catalog(partitioned=row[0] == "p", schema=str(row[1]), slots=slots, names=names)


def is_partitioned(connection: Connection, table: str) -> bool:
    """Whether ``table`` is partitioned in this database (PostgreSQL at head: events and
    metric points); the catalog is read once per process and database, then remembered.

    For readers whose best statement differs on a partitioned table (keyset pages,
    :mod:`flightlog.services.event_paging`). False on SQLite and for a missing table.
    """
    if connection.dialect.name != "postgresql":
        return False
    known = _database(connection)
    partitioned = known.partitioned.get(table)
    if partitioned is None:
        catalog = read_catalog(connection, table)
        partitioned = catalog is not None and catalog.partitioned
        if catalog is not None:
            with _known_lock:
                known.partitioned[table] = partitioned
    return partitioned


def create_partitions(
    connection: Connection, table: str, schema: str, slots: set[int] | frozenset[int]
) -> list[str]:
    """Create and attach the partitions of ``slots``, in the caller's transaction.

    CREATE TABLE ... (LIKE ...) then ATTACH, rather than CREATE TABLE ...
    PARTITION OF: ATTACH takes only a SHARE UPDATE EXCLUSIVE lock on the
    parent, so readers and writers of the table go on meanwhile. ATTACH adds
    the parent's indexes, foreign keys and row triggers to the new partition.
    """
    made = []
    for slot in sorted(slots):
        name = partition_name(table, slot)
        connection.exec_driver_sql(
            f'CREATE TABLE IF NOT EXISTS "{schema}"."{name}" '
            f'(LIKE "{schema}"."{table}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'
        )
        connection.exec_driver_sql(
            f'ALTER TABLE "{schema}"."{table}" ATTACH PARTITION "{schema}"."{name}" '
            f"{bounds(slot).sql()}"
        )
        made.append(name)
    return made


def _created_here(connection: Connection) -> bool:
    """Whether this connection's current transaction created partitions (maybe rolled back
    to a savepoint since): its view of the catalog may hold partitions no one else sees."""
    current = connection.get_transaction()
    return current is not None and connection.info.get(_CREATED_IN) is current


def ensure_slots(connection: Connection, table: str, needed: set[int]) -> None:
    """Make sure ``table`` has a partition for every slot in ``needed``, before a write.

    In the caller's transaction (see the module's docstring). A no-op on
    SQLite and on a table that is not partitioned.
    """
    if not needed or connection.dialect.name != "postgresql":
        return
    known = _database(connection)
    if known.partitioned.get(table) is False:
        return
    now = datetime.now(UTC)
    current = slot_of(now)
    have = known.slots.get(table, frozenset())
    missing = {slot for slot in needed if slot not in have or slot < current}
    if missing or table not in known.partitioned:
        catalog = read_catalog(connection, table)
        if catalog is None:
            return
        with _known_lock:
            known.partitioned[table] = catalog.partitioned
        if not catalog.partitioned:
            return
        if not _created_here(connection):
            _remember(known, table, catalog.slots)
        absent = missing - catalog.slots
        if absent:
            _create_locked(connection, table, absent, now)
    _keep_ahead(connection, known, table, now)


def _create_locked(connection: Connection, table: str, absent: set[int], now: datetime) -> None:
    """Make ``absent`` in this transaction; the months ahead too, since it holds the locks
    that takes (a connection of its own could not get them until this one commits)."""
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEYS[table]})
    connection.info[_CREATED_IN] = connection.get_transaction()
    # Another writer may have made them while this one waited for the lock.
    fresh = read_catalog(connection, table)
    if fresh is not None:
        wanted = absent | ahead_slots(now)
        create_partitions(connection, table, fresh.schema, wanted - fresh.slots)


def _keep_ahead(connection: Connection, known: _Known, table: str, now: datetime) -> None:
    """Note the months ahead as wanted when they are missing; :func:`_make_ahead` makes them
    as the next transaction on this database begins.

    Not now, on a connection of its own: this transaction may hold the very
    locks that would need (a row it wrote in ``tasks``, say), so the attempt
    would wait for its own writer and give up every time.
    """
    if ahead_slots(now) <= known.slots.get(table, frozenset()):
        return
    with _known_lock:
        if time.monotonic() >= known.ahead_retry_at.get(table, 0.0):
            known.ahead_wanted.add(table)
            _wanted.add(_database_key(connection))


def _make_ahead(connection: Connection) -> None:
    """When a transaction begins on a database whose months ahead are wanted: make them, on
    another connection, with a short lock timeout; busy locks postpone it by a minute."""
    if not _wanted:
        return
    key = _database_key(connection)
    with _known_lock:
        known = _known.get(key)
        if key not in _wanted or known is None:
            return
        _wanted.discard(key)
        tables, known.ahead_wanted = sorted(known.ahead_wanted), set()
        retry_at = time.monotonic() + AHEAD_RETRY_SECONDS
        known.ahead_retry_at.update(dict.fromkeys(tables, retry_at))
    if not pool_has_room(connection.engine):
        return
    for table in tables:
        try:
            create_ahead(connection.engine, table, lock_timeout_ms=AHEAD_LOCK_TIMEOUT_MS)
        except DBAPIError as exc:
            # Busy locks (lock_timeout) or anything else: the months are not needed yet.
            log.info("could not make the coming months' partitions of %s yet: %s", table, exc.orig)


def create_ahead(engine: Engine, table: str, *, lock_timeout_ms: int) -> list[str]:
    """Create the current month's and the coming months' partitions, in a transaction of
    its own; the names made. Gives up (returns []) when another process is making them."""
    now = datetime.now(UTC)
    with engine.connect() as connection:
        connection.exec_driver_sql(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
        catalog = read_catalog(connection, table)
        if catalog is None or not catalog.partitioned:
            return []
        known = _database(connection)
        _remember(known, table, catalog.slots)
        wanted = ahead_slots(now) - catalog.slots
        if not wanted:
            return []
        key = {"key": LOCK_KEYS[table]}
        if not connection.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), key):
            return []
        fresh = read_catalog(connection, table)
        made = (
            []
            if fresh is None
            else create_partitions(connection, table, fresh.schema, wanted - fresh.slots)
        )
        connection.commit()
    _remember(known, table, wanted)
    return made


def ensure_window(engine: Engine, *, lock_timeout_ms: int = 5000) -> list[str]:
    """The months ahead for every partitioned table (``flightlog purge`` calls this);
    the partitions made. No-op on SQLite."""
    if engine.dialect.name != "postgresql":
        return []
    made: list[str] = []
    for table in PARTITION_KEYS:
        made += create_ahead(engine, table, lock_timeout_ms=lock_timeout_ms)
    return made


def ids_taken(connection: Connection, table: Table, ids: Sequence[int]) -> bool:
    """Whether an explicit id is repeated in ``ids`` or used in ``table`` already (PostgreSQL).

    A partitioned table's primary key is (id, time): it does not refuse a row
    whose id another row of another time has. Ids drawn from the identity never
    meet; a writer that brings its own (the importer) asks this first. One
    probe of each partition's primary key index per id. False on SQLite, where
    the primary key is the id alone.
    """
    if connection.dialect.name != "postgresql":
        return False
    if len(set(ids)) < len(ids):
        return True
    return connection.scalar(select(table.c.id).where(table.c.id.in_(ids)).limit(1)) is not None


def _insert_times(
    statement: Insert, key: str, rows: Sequence[Mapping[str, Any]]
) -> tuple[list[datetime], bool]:
    """The times an INSERT gives its partition key, and whether some row takes the clock."""
    given: Any = None
    for column, value in (getattr(statement, "_values", None) or {}).items():
        if getattr(column, "key", column) == key:
            given = value.value if isinstance(value, BindParameter) else value
    if given is not None:
        return ([given], False) if isinstance(given, datetime) else ([], True)
    times: list[datetime] = []
    clock = not rows
    for row in rows:
        value = row.get(key)
        if isinstance(value, datetime):
            times.append(value)
        else:
            clock = True
    return times, clock


def _before_insert(
    connection: Connection,
    clauseelement: Any,
    multiparams: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any],
    execution_options: Any,
) -> None:
    """Before any SQLAlchemy INSERT into a partitioned table: make its months exist."""
    if not isinstance(clauseelement, Insert):
        return
    info = getattr(clauseelement.table, "info", None)
    key = info.get(PARTITION_KEY_INFO) if info else None
    if key is None or connection.dialect.name != "postgresql":
        return
    rows = list(multiparams) if multiparams else ([params] if params else [])
    times, clock = _insert_times(clauseelement, key, rows)
    aware = [at for at in times if at.tzinfo is not None]
    needed = slots_of(aware)
    if clock:
        needed |= clock_slots(datetime.now(UTC))
    ensure_slots(connection, clauseelement.table.name, needed)


event.listen(Engine, "before_execute", _before_insert)
event.listen(Engine, "begin", _make_ahead)

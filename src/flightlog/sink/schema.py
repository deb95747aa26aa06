"""The sink's tables, and the DDL both backends run: generated here, once.

Every table is a ``ReplacingMergeTree(_version, _deleted)`` partitioned by
month and ordered by its key then ``id``, with a TTL of the configured
retention. ClickHouse collapses rows with the same sorting key to the one with
the highest ``_version`` when parts merge, and ``SELECT … FINAL`` does the same
at read time, dropping rows whose ``_deleted`` is 1. So writing a row twice
(after a ``kill -9`` the worker re-reads from its last saved position) leaves
one copy, and a row re-read after it changed replaces the old one. That needs
the sorting key of a row to be fixed for life: ``customer_id`` comes from the
row's task (which never changes customer) and ``time`` from a column that never
changes after the insert (``created_at``, ``started_at``, ``recorded_at``).

The key is ``(customer_id, time)`` except for metric points, which are read as
one task's series of one name: ``(customer_id, task_id, name, time)``, so such a
read covers that series' rows only instead of the customer's whole month (a
metric point is never updated, so its task and name are as fixed as its time).
A tombstone repeats the key of the row it hides. Task runs also hold columns
ClickHouse derives from each row for the run charts (:mod:`flightlog.sink.derived`),
named by the table's comment. A table found with another key or another comment (a
sink made by an earlier version) is rebuilt in the sink itself from its live rows,
versions kept (:mod:`flightlog.sink.relayout`).

``time`` is clamped into ClickHouse's ``DateTime64`` range (1900-2299); the TTL
drops rows older than the retention, so the sink holds the recent past only
and the aggregates it answers are limited to that window (older ones fall back
to the database).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from flightlog.sink.derived import TASK_RUN_COLUMNS, Derived, layout

#: How a value read from the primary is written into a JSONCompactEachRow cell.
Kind = Literal["uint", "int", "uuid", "time", "float", "decimal", "text", "json"]
Table = Literal["events", "metric_points", "agent_runs", "task_runs"]

TIME = "DateTime64(6, 'UTC')"
#: The columns every sink table ends with: the row's fingerprint, its version, a tombstone flag.
BOOKKEEPING = ("_hash", "_version", "_deleted")
PROGRESS = "sink_progress"
#: The oldest metric point time ever copied, per customer (see :func:`create_metric_floor`).
METRIC_FLOOR = "sink_metric_floor"


@dataclass(frozen=True)
class Column:
    """One sink column: its ClickHouse type, how values are encoded, and whether NULL is allowed."""

    name: str
    type: str
    kind: Kind
    nullable: bool = False
    low_cardinality: bool = False

    @property
    def ddl_type(self) -> str:
        inner = f"Nullable({self.type})" if self.nullable else self.type
        return f"LowCardinality({inner})" if self.low_cardinality else inner


@dataclass(frozen=True)
class SinkTable:
    """A table of the primary as the sink keeps it.

    ``time_source`` is the primary's column that becomes ``time``; ``mutable``
    tables (rows updated after insert) are re-read by id, the others tailed by id;
    ``open_statuses`` are the statuses of rows that may still change; ``derived`` are
    columns ClickHouse computes from the copied ones (:mod:`flightlog.sink.derived`).
    """

    name: Table
    id_kind: Kind
    time_source: str
    columns: tuple[Column, ...]
    mutable: bool = False
    open_statuses: tuple[str, ...] = ()
    key: tuple[str, ...] = ("customer_id", "time")
    derived: tuple[Derived, ...] = ()

    @property
    def layout(self) -> str:
        """The table's comment: it names the derived columns (empty when there are none)."""
        return layout(self.derived)

    @property
    def sorting_key(self) -> str:
        """``ORDER BY``'s columns as ClickHouse lists them in ``system.tables.sorting_key``."""
        return ", ".join((*self.key, "id"))

    @property
    def nullable_key(self) -> bool:
        """Whether a key column may be NULL (ClickHouse then needs ``allow_nullable_key``)."""
        return any(c.nullable for c in self.payload if c.name in self.key)

    @property
    def all_columns(self) -> tuple[str, ...]:
        """Every column in the order rows are written and read: id, customer, time, payload, …"""
        return ("id", "customer_id", "time", *(c.name for c in self.columns), *BOOKKEEPING)

    @property
    def payload(self) -> tuple[Column, ...]:
        """``id``, ``customer_id``, ``time`` and the copied columns: what the fingerprint covers."""
        first = (
            Column("id", "UInt64" if self.id_kind == "uint" else "UUID", self.id_kind),
            Column("customer_id", "UUID", "uuid"),
            Column("time", TIME, "time"),
        )
        return first + self.columns


def _c(name: str, type_: str, kind: Kind, nullable: bool = False) -> Column:
    return Column(name, type_, kind, nullable)


def _uuid(name: str, nullable: bool = True) -> Column:
    return Column(name, "UUID", "uuid", nullable)


def _text(name: str, nullable: bool = True, low_cardinality: bool = False) -> Column:
    return Column(name, "String", "text", nullable, low_cardinality)


EVENTS = SinkTable(
    "events",
    "uint",
    "created_at",
    (
        _uuid("task_id"),
        _uuid("run_id"),
        _uuid("agent_run_id"),
        _uuid("agent_id"),
        _c("parent_event_id", "UInt64", "uint", nullable=True),
        _text("event_type", nullable=False, low_cardinality=True),
        _text("severity", nullable=False, low_cardinality=True),
        _text("agent_role", low_cardinality=True),
        _text("content"),
        _c("data", "String", "json", nullable=True),
        _text("entity_type", low_cardinality=True),
        _text("entity_id"),
        _text("actor"),
        _text("trace_id"),
        _text("span_id"),
    ),
)

METRIC_POINTS = SinkTable(
    "metric_points",
    "uint",
    "recorded_at",
    (
        _uuid("task_id"),
        _uuid("run_id"),
        _uuid("agent_run_id"),
        _text("name", nullable=False, low_cardinality=True),
        _text("metric_type", nullable=False, low_cardinality=True),
        _c("value", "Float64", "float"),
        _text("unit", low_cardinality=True),
        _c("labels", "String", "json"),
    ),
    key=("customer_id", "task_id", "name", "time"),
)

AGENT_RUNS = SinkTable(
    "agent_runs",
    "uuid",
    "started_at",
    (
        _uuid("task_id", nullable=False),
        _uuid("run_id"),
        _uuid("parent_id"),
        _uuid("agent_id"),
        _text("agent_name", nullable=False, low_cardinality=True),
        _text("status", nullable=False, low_cardinality=True),
        _c("finished_at", TIME, "time", nullable=True),
        _c("duration_seconds", "Float64", "float", nullable=True),
        _text("output_summary"),
        _text("error_message"),
        _c("tokens_in", "Int64", "int"),
        _c("tokens_out", "Int64", "int"),
        _c("cost_usd", "Decimal(18, 6)", "decimal"),
        _c("details", "String", "json"),
        _text("trace_id"),
        _text("span_id"),
    ),
    mutable=True,
    open_statuses=("STARTED", "RUNNING"),
)

#: Task runs, for run outcomes and durations: the columns those charts and usage need, not
#: the plans, contexts and results (JSON documents that belong to the system of record).
TASK_RUNS = SinkTable(
    "task_runs",
    "uuid",
    "created_at",
    (
        _uuid("task_id", nullable=False),
        _c("run_number", "Int64", "int"),
        _text("status", nullable=False, low_cardinality=True),
        _uuid("agent_id"),
        _text("agent_type", low_cardinality=True),
        _c("started_at", TIME, "time", nullable=True),
        _c("completed_at", TIME, "time", nullable=True),
        _c("duration_seconds", "Float64", "float", nullable=True),
        _c("tokens_in", "Int64", "int"),
        _c("tokens_out", "Int64", "int"),
        _c("cost_usd", "Decimal(18, 6)", "decimal"),
        _uuid("session_id"),
        _text("trace_id"),
        _c("updated_at", TIME, "time"),
    ),
    mutable=True,
    open_statuses=("PENDING", "RUNNING", "WAITING_APPROVAL"),
    derived=TASK_RUN_COLUMNS,
)

TABLES: tuple[SinkTable, ...] = (EVENTS, METRIC_POINTS, AGENT_RUNS, TASK_RUNS)
BY_NAME: dict[str, SinkTable] = {table.name: table for table in TABLES}


def ttl(retention_days: int) -> str:
    """The TTL clause: rows older than the retention are dropped when parts merge."""
    return f"time + toIntervalDay({int(retention_days)})"


def create_database(database: str) -> str:
    return f"CREATE DATABASE IF NOT EXISTS {database}"


def create_table(
    database: str, table: SinkTable, retention_days: int, *, name: str | None = None
) -> str:
    """``CREATE TABLE IF NOT EXISTS`` of one sink table (under ``name`` if given)."""
    columns = [f"    {c.name} {c.ddl_type}" for c in table.payload]
    columns += ["    _hash UInt64", "    _version UInt64", "    _deleted UInt8"]
    columns += [f"    {d.ddl}" for d in table.derived]
    body = ",\n".join(columns)
    settings = "\nSETTINGS allow_nullable_key = 1" if table.nullable_key else ""
    comment = f"\nCOMMENT '{table.layout}'" if table.layout else ""
    return (
        f"CREATE TABLE IF NOT EXISTS {database}.{name or table.name} (\n{body}\n)\n"
        "ENGINE = ReplacingMergeTree(_version, _deleted)\n"
        "PARTITION BY toYYYYMM(time)\n"
        f"ORDER BY ({table.sorting_key})\n"
        f"TTL {ttl(retention_days)}{settings}{comment}"
    )


def staging_name(table: SinkTable) -> str:
    """Where a table is rebuilt with its declared key before it takes the table's place."""
    return f"{table.name}__relayout"


def modify_ttl(database: str, table: SinkTable, retention_days: int) -> str:
    """Change a table's retention (run only when it differs: ClickHouse rewrites the TTL)."""
    return f"ALTER TABLE {database}.{table.name} MODIFY TTL {ttl(retention_days)}"


def create_progress(database: str) -> str:
    """Where the worker keeps its positions: one row per stream, the latest cycle's wins."""
    return (
        f"CREATE TABLE IF NOT EXISTS {database}.{PROGRESS} (\n"
        "    stream String,\n"
        "    position String,\n"
        "    cycle UInt64,\n"
        f"    caught_up_at {TIME},\n"
        f"    updated_at {TIME}\n"
        ")\n"
        "ENGINE = ReplacingMergeTree(cycle)\n"
        "ORDER BY stream"
    )


def create_metric_floor(database: str) -> str:
    """The oldest metric point the worker has copied, per customer, written before the points.

    The metric name list counts *every* point of a customer, and the TTL drops the old
    ones: the sink answers it only while this floor is inside the retention (nothing of
    the customer's can have been dropped); otherwise the database does. One row per time a
    customer's floor went down, so ``min(oldest)`` is the floor.
    """
    return (
        f"CREATE TABLE IF NOT EXISTS {database}.{METRIC_FLOOR} (\n"
        "    customer_id UUID,\n"
        f"    oldest {TIME}\n"
        ")\n"
        "ENGINE = MergeTree\n"
        "ORDER BY customer_id"
    )


def schema_statements(database: str, retention_days: int) -> list[str]:
    """Everything ``ensure_schema`` runs, in order (each is idempotent)."""
    return [
        create_database(database),
        *(create_table(database, table, retention_days) for table in TABLES),
        # Left by a rebuild stopped before its last DROP (flightlog.sink.relayout).
        *(f"DROP TABLE IF EXISTS {database}.{staging_name(table)} SYNC" for table in TABLES),
        create_progress(database),
        create_metric_floor(database),
    ]

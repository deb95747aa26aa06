"""Rebuilding a sink table whose sorting key or derived columns are not the declared ones
(a sink made by an earlier version of Flightlog), inside the sink, keeping what it holds.

ClickHouse cannot change a sorting key in place, and a derived column added in place
would be computed for old parts only when a mutation rewrites them. :func:`rebuild`
copies the table's live rows, read ``FINAL`` under the old key (so a tombstone written
at the old key has hidden its row), with their versions, into a staging table made
with the declared key and columns (the derived ones computed as the rows go in), one
month (partition) per statement so that no statement outgrows a server's query
timeout; the staging table then takes the old one's place in one ``EXCHANGE TABLES``,
which needs an Atomic database (ClickHouse's default).

Stopped anywhere, the next start does it again: the staging table is dropped first
(:func:`flightlog.sink.schema.schema_statements` also drops one left after the
exchange). The worker's saved position of a tailed table is moved back to the
highest id the table held when the copy began (:func:`flightlog.sink.worker.SinkWorker.start`):
a row another writer added meanwhile is read from the primary again rather than
left behind in the dropped table (a row read twice collapses).
"""

from __future__ import annotations

import logging

from flightlog.errors import ConfigurationError
from flightlog.sink.backend import SinkBackend
from flightlog.sink.schema import SinkTable, create_table, staging_name
from flightlog.sink.statements import READ, Statement

log = logging.getLogger(__name__)

#: The database engines that can ``EXCHANGE TABLES``.
EXCHANGING_ENGINES = ("Atomic", "Replicated")


def highest_id(backend: SinkBackend, table: SinkTable) -> int | None:
    """The highest id the table holds (an append-only table's; None when it is empty)."""
    found = backend.select(
        Statement(f"SELECT max(id), count() FROM {backend.url.database}.{table.name} {READ}")
    )
    return int(found[0][0]) if found and int(found[0][1]) else None


def rebuild(backend: SinkBackend, table: SinkTable, retention_days: int, found_key: str) -> None:
    """Make ``table`` hold the same live rows under its declared sorting key."""
    database = backend.url.database
    engines = backend.select(
        Statement(
            f"SELECT engine FROM system.databases WHERE name = {{db:String}} {READ}",
            {"db": database},
        )
    )
    engine = str(engines[0][0]) if engines else "unknown"
    if engine not in EXCHANGING_ENGINES:
        raise ConfigurationError(
            f"The sink's table {database}.{table.name} must be rebuilt in a new layout, "
            f"which needs an Atomic database, and {database} is {engine}; point "
            "FLIGHTLOG_SINK_URL at a new database (the sink copies everything again)."
        )
    # A warning so that an operator sees it (a start that takes longer than usual, once).
    log.warning(
        "Rebuilding the sink's %s in this version's layout (sorting key (%s), was (%s); "
        "derived columns %s), once; its rows are kept (about 2 s per million rows).",
        table.name,
        table.sorting_key,
        found_key,
        ", ".join(d.name for d in table.derived) or "none",
    )
    staging = f"{database}.{staging_name(table)}"
    columns = ", ".join(table.all_columns)
    backend.command(Statement(f"DROP TABLE IF EXISTS {staging} SYNC"))
    backend.command(
        Statement(create_table(database, table, retention_days, name=staging_name(table)))
    )
    months = backend.select(
        Statement(
            "SELECT DISTINCT partition_id FROM system.parts WHERE database = {db:String} "
            f"AND table = {{table:String}} AND active ORDER BY partition_id {READ}",
            {"db": database, "table": table.name},
        )
    )
    for (month,) in months:
        backend.command(
            Statement(
                f"INSERT INTO {staging} ({columns}) SELECT {columns} "
                f"FROM {database}.{table.name} FINAL WHERE _partition_id = {{month:String}}",
                {"month": str(month)},
            )
        )
    backend.command(Statement(f"EXCHANGE TABLES {database}.{table.name} AND {staging}"))
    backend.command(Statement(f"DROP TABLE {staging} SYNC"))

"""One interface over the sink's two stores: chdb in this process, or a ClickHouse server.

Both run the statements of :mod:`flightlog.sink.statements` and
:mod:`flightlog.sink.schema` as they are and read results in one format, so
everything above this module (the worker, the aggregates, the status) is
written once. :func:`open_backend` imports the backend's library only when a
sink is used: ``import flightlog`` never loads chdb (pyarrow, pandas) or
clickhouse-connect.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from flightlog.errors import ConfigurationError, FlightlogError
from flightlog.sink.schema import TABLES, schema_statements
from flightlog.sink.statements import Insert, Statement, modify_ttl_needed, table_engine
from flightlog.sink.url import SinkUrl


class SinkUnavailable(FlightlogError):
    """The sink's store cannot be reached or used right now; the database still serves."""

    code = "sink_unavailable"


class SinkBusy(SinkUnavailable):
    """Another process owns the chdb data directory (one owner per directory)."""

    code = "sink_busy"


class NotHeld(Exception):
    """The sink does not hold everything a question needs (the TTL dropped some of it)."""


class SinkBackend(Protocol):
    """What the sink needs of a store: run a statement, insert rows, read rows."""

    url: SinkUrl

    def command(self, statement: Statement) -> None:
        """Run a statement that returns nothing (DDL, ALTER)."""

    def insert(self, batch: Insert) -> None:
        """Insert a batch of rows (atomically: one part)."""

    def select(self, statement: Statement) -> list[list[Any]]:
        """The rows of a query that ends in ``FORMAT JSONCompact``."""

    def close(self) -> None:
        """Release the store (for chdb: the data directory's lock)."""


def rows_of(raw: bytes) -> list[list[Any]]:
    """The ``data`` of a JSONCompact answer (an empty answer is no rows)."""
    if not raw.strip():
        return []
    data: list[list[Any]] = json.loads(raw)["data"]
    return data


#: The packages of the ``sink`` extra (``pip install 'flightlog[sink]'``).
EXTRA = ("chdb", "clickhouse_connect")


def open_backend(url: SinkUrl) -> SinkBackend:
    """The backend ``url`` names, connected; SinkUnavailable (or SinkBusy) if it cannot be,
    ConfigurationError when the ``sink`` extra is not installed."""
    try:
        if url.kind == "chdb":
            from flightlog.sink.chdb_backend import ChdbBackend

            return ChdbBackend(url)
        from flightlog.sink.server_backend import ClickHouseServerBackend

        return ClickHouseServerBackend(url)
    except ModuleNotFoundError as exc:
        package = (exc.name or "").partition(".")[0]
        if package not in EXTRA:
            raise
        raise ConfigurationError(
            f"The columnar sink needs the {package} package, which is not installed: "
            "run pip install 'flightlog[sink]' (or unset FLIGHTLOG_SINK_URL)."
        ) from exc


def require_made(backend: SinkBackend) -> None:
    """ConfigurationError unless ``flightlog sink run`` (or serve) has made the sink's tables."""
    found = backend.select(
        Statement(
            "SELECT count() FROM system.tables WHERE database = {db:String}"
            " AND name = 'sink_progress' FORMAT JSONCompact",
            {"db": backend.url.database},
        )
    )
    if not found or not int(found[0][0]):
        raise not_made(backend.url)


def not_made(url: SinkUrl) -> ConfigurationError:
    return ConfigurationError(
        f"The sink {url.redacted()} holds nothing yet: run flightlog sink run first."
    )


def ensure_schema(backend: SinkBackend, retention_days: int) -> dict[str, int | None]:
    """Create the database and tables if missing; rebuild a table whose sorting key or
    derived columns are not the declared ones (a sink made by an earlier version); bring
    each TTL to the retention.

    Returns the tables rebuilt, each with the highest id an append-only one held before
    its rows were copied (None for the others, or when it was empty).
    """
    from flightlog.sink import relayout

    database = backend.url.database
    for sql in schema_statements(database, retention_days):
        backend.command(Statement(sql))
    rebuilt: dict[str, int | None] = {}
    for table in TABLES:
        found = backend.select(table_engine(database, table.name))
        engine, sorting_key, comment = (str(v) for v in found[0]) if found else ("", "", "")
        if found and (sorting_key, comment) != (table.sorting_key, table.layout):
            rebuilt[table.name] = None if table.mutable else relayout.highest_id(backend, table)
            relayout.rebuild(backend, table, retention_days, sorting_key)
            continue  # made with the retention's TTL
        change = modify_ttl_needed(database, table, engine, retention_days)
        if change is not None:
            backend.command(change)
    return rebuilt

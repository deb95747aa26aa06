"""The SQL the sink sends, as text plus typed parameters, the same for both backends.

Parameters use ClickHouse's server-side form ``{name:Type}``: chdb binds them
in-process, and clickhouse-connect sends them as ``param_name`` values over
HTTP; the SQL text never has a value spliced in, so the two backends run the
very same statement (tests/test_sink_contract.py proves it on chdb, through
clickhouse-connect's own binding). Results come back as ``JSONCompact``, read
the same way from both, with 64-bit integers as numbers and decimals and
non-finite floats as strings (exact).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flightlog.sink.schema import (
    BOOKKEEPING,
    METRIC_FLOOR,
    PROGRESS,
    TIME,
    SinkTable,
    modify_ttl,
    ttl,
)

ParamValue = str | int | float | list[str] | None
#: How results are asked for: JSONCompact, exact numbers.
_EXACT_JSON = (
    "output_format_json_quote_64bit_integers = 0, "
    "output_format_json_quote_decimals = 1, output_format_json_quote_denormals = 1"
)
READ = f"SETTINGS {_EXACT_JSON} FORMAT JSONCompact"


def read_with(*settings: str) -> str:
    """:data:`READ` with these query settings as well."""
    return f"SETTINGS {', '.join((*settings, _EXACT_JSON))} FORMAT JSONCompact"


INSERT_FORMAT = "JSONCompactEachRow"
#: The instants ClickHouse's DateTime64 can hold; times outside are clamped into it.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2299, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


@dataclass(frozen=True)
class Statement:
    """One statement: SQL with ``{name:Type}`` placeholders and their values."""

    sql: str
    params: Mapping[str, ParamValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Insert:
    """``INSERT … FORMAT JSONCompactEachRow`` and its rows, one JSON array per line."""

    sql: str
    payload: str
    rows: int


def time_text(moment: datetime) -> str:
    """A timezone-aware instant as DateTime64(6, 'UTC') text, clamped into its range."""
    moment = min(max(moment.astimezone(UTC), EARLIEST), LATEST)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def insert(database: str, table: str, columns: Sequence[str], rows: Iterable[list[Any]]) -> Insert:
    """The INSERT of ``rows`` (lists of JSON-ready cells in ``columns`` order).

    The rows are one ``json.dumps`` of the list without its outer brackets: the format
    takes rows separated by commas, and one call costs half of one per row.
    """
    listed = list(rows)
    payload = json.dumps(listed, ensure_ascii=False, separators=(",", ":"))[1:-1]
    head = f"INSERT INTO {database}.{table} ({', '.join(columns)}) FORMAT {INSERT_FORMAT}"
    return Insert(head, payload, len(listed))


def progress(database: str) -> Statement:
    """Every stream's saved position (the highest cycle's row of each)."""
    return Statement(
        f"SELECT stream, position, cycle, caught_up_at FROM {database}.{PROGRESS} FINAL {READ}"
    )


PROGRESS_COLUMNS = ("stream", "position", "cycle", "caught_up_at", "updated_at")


def metric_floors(database: str) -> Statement:
    """Each customer's oldest metric point time ever copied (:data:`METRIC_FLOOR`)."""
    return Statement(
        f"SELECT toString(customer_id), min(oldest) FROM {database}.{METRIC_FLOOR}"
        f" GROUP BY customer_id {READ}"
    )


def table_engine(database: str, table: str) -> Statement:
    """The table's engine clause, sorting key and comment: is its TTL the configured one,
    its key and derived columns (named by the comment) the declared ones."""
    return Statement(
        "SELECT engine_full, sorting_key, comment FROM system.tables "
        f"WHERE database = {{db:String}} "
        f"AND name = {{table:String}} {READ}",
        {"db": database, "table": table},
    )


def modify_ttl_needed(
    database: str, table: SinkTable, engine_full: str, retention_days: int
) -> Statement | None:
    """The ALTER that sets the retention, or None when the table has it already."""
    if f"TTL {ttl(retention_days)}" in engine_full:
        return None
    return Statement(modify_ttl(database, table, retention_days))


def _id_after(table: SinkTable, name: str) -> str:
    """``id > {name}`` in the primary's id order (UUIDs compare as their text there)."""
    if table.id_kind == "uint":
        return f"id > {{{name}:UInt64}}"
    return f"toString(id) > {{{name}:String}}"


def _id_upto(table: SinkTable, name: str) -> str:
    if table.id_kind == "uint":
        return f"id <= {{{name}:UInt64}}"
    return f"toString(id) <= {{{name}:String}}"


def id_param(table: SinkTable, value: int | str) -> ParamValue:
    return int(value) if table.id_kind == "uint" else str(value)


def status_list(statuses: Sequence[str]) -> str:
    """Statuses as the literal list of an ``IN (…)``: the enums' own values, never input."""
    return ", ".join(f"'{status}'" for status in statuses)


def open_ids(database: str, table: SinkTable) -> Statement:
    """Ids (and fingerprints) of the rows the sink holds in a status that may still change."""
    return Statement(
        f"SELECT toString(id), _hash FROM {database}.{table.name} FINAL "
        f"WHERE status IN ({status_list(table.open_statuses)}) {READ}"
    )


def fingerprints_of(database: str, table: SinkTable, ids: Sequence[str]) -> Statement:
    """(id, fingerprint) of the live rows among ``ids`` (UUID text; a few thousand at most)."""
    return Statement(
        f"SELECT toString(id), _hash FROM {database}.{table.name} FINAL "
        f"WHERE id IN {{ids:Array(UUID)}} {READ}",
        {"ids": list(ids)},
    )


def _as_text(table: SinkTable, column: str) -> str:
    kind = next(c.kind for c in table.payload if c.name == column)
    return f"toString({column})" if kind == "uuid" else column


def fingerprints(
    database: str, table: SinkTable, after: int | str, upto: int | str | None
) -> Statement:
    """(id, the key's values, fingerprint) of the live rows with ids in ``(after, upto]``:
    what a tombstone for each must repeat (:func:`tombstones`)."""
    where = [_id_after(table, "after")]
    params: dict[str, ParamValue] = {"after": id_param(table, after)}
    if upto is not None:
        where.append(_id_upto(table, "upto"))
        params["upto"] = id_param(table, upto)
    key = ", ".join(_as_text(table, column) for column in table.key)
    return Statement(
        f"SELECT toString(id), {key}, _hash "
        f"FROM {database}.{table.name} FINAL WHERE {' AND '.join(where)} {READ}",
        params,
    )


def tombstones(
    database: str, table: SinkTable, held: Sequence[Sequence[Any]], version: int
) -> Insert:
    """Rows that hide each ``(id, *key values)`` of ``held`` (``_deleted`` = 1 wins at
    ``version``): written at the row's own sorting key, or they would hide nothing."""
    rows = [[*row, 0, version, 1] for row in held]
    return insert(database, table.name, ("id", *table.key, *BOOKKEEPING), rows)


def rows_page(database: str, table: SinkTable, after: int | str, limit: int) -> Statement:
    """Live rows with ids after ``after``, in id order: for comparing with the primary."""
    order = "id" if table.id_kind == "uint" else "toString(id)"
    columns = ", ".join(
        f"toString({c.name})" if c.kind == "uuid" else c.name for c in table.payload
    )
    return Statement(
        f"SELECT {columns} FROM {database}.{table.name} FINAL "
        f"WHERE {_id_after(table, 'after')} ORDER BY {order} LIMIT {{limit:UInt32}} {READ}",
        {"after": id_param(table, after), "limit": int(limit)},
    )


def optimize(database: str, table: SinkTable) -> Statement:
    """Merge a table's parts now (what background merges reach in time): ``FINAL`` then
    has one part per partition to read. For benchmarks and maintenance, not the worker."""
    return Statement(f"OPTIMIZE TABLE {database}.{table.name} FINAL")


def count_live(database: str, table: SinkTable) -> Statement:
    return Statement(f"SELECT count() FROM {database}.{table.name} FINAL {READ}")


__all__ = [
    "INSERT_FORMAT",
    "PROGRESS_COLUMNS",
    "READ",
    "TIME",
    "Insert",
    "ParamValue",
    "Statement",
    "count_live",
    "fingerprints",
    "fingerprints_of",
    "id_param",
    "insert",
    "modify_ttl_needed",
    "open_ids",
    "optimize",
    "progress",
    "read_with",
    "rows_page",
    "table_engine",
    "time_text",
    "tombstones",
]

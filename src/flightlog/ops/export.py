"""Write a scope of a Flightlog database to the JSON Lines export format."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Table, select

from flightlog import models as m
from flightlog.errors import NotFound
from flightlog.ops.jsonl_format import (
    BLOB_FILE_FIELD,
    FORMAT_NAME,
    FORMAT_VERSION,
    dumps,
    encode_row,
)
from flightlog.ops.scope import Scope, build_filters

STREAM_BATCH = 2000
Progress = Callable[[str, int], None]


def _owning_customer(connection: Connection, scope: Scope) -> uuid.UUID | None:
    if scope.kind == "all":
        return None
    model = {"customer": m.Customer, "project": m.Project, "task": m.Task}[scope.kind]
    column = model.id if scope.kind == "customer" else model.customer_id  # type: ignore[attr-defined]
    found = connection.scalar(select(column).where(model.id == scope.id))  # type: ignore[attr-defined]
    if found is None:
        raise NotFound(f"No {scope.kind} {scope.id} in this database.")
    return found  # type: ignore[no-any-return]


def _rows(connection: Connection, table: Table, where: Any) -> Iterator[dict[str, Any]]:
    stmt = select(table).order_by(*table.primary_key.columns)
    if where is not None:
        stmt = stmt.where(where)
    result = connection.execution_options(stream_results=True, yield_per=STREAM_BATCH).execute(stmt)
    for row in result.mappings():
        yield dict(row)


def export_lines(
    connection: Connection,
    scope: Scope,
    *,
    schema_revision: str,
    blob_dir: Path,
    progress: Progress | None = None,
) -> Iterator[str]:
    """Yield the export, line by line: a header, then rows table by table, parents first."""
    customer_id = _owning_customer(connection, scope)
    filters = build_filters(scope, customer_id=customer_id)
    yield dumps(
        {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "schema_revision": schema_revision,
            "exported_at": datetime.now(UTC).isoformat(),
            "scope": scope.describe(),
        }
    )
    for table in m.Base.metadata.sorted_tables:
        included, where = filters.for_table(table.name)
        if not included:
            continue
        count = 0
        for row in _rows(connection, table, where):
            encoded = encode_row(table, row)
            if table.name == "artifact_blobs" and row.get("storage_path"):
                content = (blob_dir / row["storage_path"]).read_bytes()
                encoded[BLOB_FILE_FIELD] = base64.b64encode(content).decode("ascii")
            yield dumps({"table": table.name, "row": encoded})
            count += 1
        if progress is not None:
            progress(table.name, count)


def export_to(
    connection: Connection,
    scope: Scope,
    out: IO[str],
    *,
    schema_revision: str,
    blob_dir: Path,
    progress: Progress | None = None,
) -> int:
    """Write the export to a text stream; returns the number of rows written."""
    rows = -1
    for line in export_lines(
        connection, scope, schema_revision=schema_revision, blob_dir=blob_dir, progress=progress
    ):
        out.write(line)
        out.write("\n")
        rows += 1
    return rows

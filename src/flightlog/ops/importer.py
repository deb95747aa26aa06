"""Load a JSON Lines export into a database at head, all or nothing.

Rows are inserted in the file's order (parents first) in batches, inside one
transaction: any bad line, unknown table, version mismatch or constraint
violation rolls the whole import back. Self-references (a subtask's parent,
a nested agent run, an event's parent event) are inserted empty and filled
in once their table is complete, so row order within a table does not matter.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, bindparam, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from flightlog import models as m
from flightlog.errors import Conflict, ValidationError
from flightlog.ops.jsonl_format import BLOB_FILE_FIELD, FORMAT_NAME, SUPPORTED_VERSIONS, decode_row
from flightlog.services import blobs

INSERT_BATCH = 2000
#: table -> its column that refers to another row of the same table.
SELF_REFERENCES = {
    "tasks": "parent_task_id",
    "agent_runs": "parent_id",
    "events": "parent_event_id",
}
Progress = Callable[[str, int], None]


@dataclass
class ImportResult:
    """Rows imported per table."""

    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _header(line: str) -> dict[str, Any]:
    try:
        header = json.loads(line)
    except json.JSONDecodeError:
        raise ValidationError("line 1: not a Flightlog export (the header is not JSON)") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ValidationError("line 1: not a Flightlog export (missing format header)")
    if header.get("version") not in SUPPORTED_VERSIONS:
        raise ValidationError(
            f"Export format version {header.get('version')!r} is not supported by this "
            f"Flightlog (it reads versions {sorted(SUPPORTED_VERSIONS)}). "
            "Upgrade Flightlog to import this file."
        )
    return header


class _Loader:
    def __init__(self, connection: Connection, blob_dir: Path, progress: Progress | None) -> None:
        self.connection = connection
        self.blob_dir = blob_dir
        self.progress = progress
        self.result = ImportResult()
        self.table: Table | None = None
        self.batch: list[dict[str, Any]] = []
        self.deferred: list[tuple[Any, Any]] = []
        self.tables_done: set[str] = set()

    def add(self, table: Table, row: dict[str, Any], line: int) -> None:
        if self.table is not table:
            self.finish_table()
            if table.name in self.tables_done:
                raise ValidationError(f"line {line}: rows of {table.name} are not contiguous")
            self.table = table
        if table.name == "artifact_blobs":
            row = self._blob(row, line)
        values = decode_row(table, row, line=line)
        self_ref = SELF_REFERENCES.get(table.name)
        if self_ref and values.get(self_ref) is not None:
            self.deferred.append((values["id"], values[self_ref]))
            values[self_ref] = None
        self.batch.append(values)
        if len(self.batch) >= INSERT_BATCH:
            self._flush_batch()

    def _blob(self, row: dict[str, Any], line: int) -> dict[str, Any]:
        encoded = row.get(BLOB_FILE_FIELD)
        row = {k: v for k, v in row.items() if k != BLOB_FILE_FIELD}
        if row.get("storage_path"):
            if encoded is None:
                raise ValidationError(f"line {line}: blob {row.get('sha256')} has no file content")
            content = base64.b64decode(encoded)
            blobs.verify(content, str(row["sha256"]))
            row["storage_path"] = blobs.write_blob(self.blob_dir, str(row["sha256"]), content)
        return row

    def _flush_batch(self) -> None:
        if self.table is None or not self.batch:
            return
        self.connection.execute(insert(self.table), self.batch)
        name = self.table.name
        self.result.counts[name] = self.result.counts.get(name, 0) + len(self.batch)
        self.batch = []

    def finish_table(self) -> None:
        if self.table is None:
            return
        self._flush_batch()
        table = self.table
        self_ref = SELF_REFERENCES.get(table.name)
        if self_ref and self.deferred:
            key = table.c.id
            values: dict[str, Any] = {self_ref: _bind("ref")}
            if "updated_at" in table.c:
                # Keep the exported value: without it, the column's onupdate would restamp it.
                values["updated_at"] = table.c.updated_at
            statement = update(table).where(key == _bind("row_id")).values(values)
            self.connection.execute(
                statement, [{"row_id": rid, "ref": ref} for rid, ref in self.deferred]
            )
        self.deferred = []
        self.tables_done.add(table.name)
        if self.progress is not None:
            self.progress(table.name, self.result.counts.get(table.name, 0))
        self.table = None


def _bind(name: str) -> Any:
    return bindparam(name)


def _reset_identity(connection: Connection) -> None:
    """After explicit ids, make PostgreSQL's identity sequences continue above them."""
    if connection.dialect.name != "postgresql":
        return  # SQLite's AUTOINCREMENT already follows the largest id inserted
    for table in (m.Base.metadata.tables["events"], m.Base.metadata.tables["metric_points"]):
        top = connection.scalar(select(func.max(table.c.id)))
        if top is not None:
            connection.execute(
                text("SELECT setval(pg_get_serial_sequence(:t, 'id'), :v)"),
                {"t": table.name, "v": int(top)},
            )


def import_lines(
    connection: Connection,
    lines: Iterable[str],
    *,
    blob_dir: Path,
    progress: Progress | None = None,
) -> ImportResult:
    """Import an export inside the caller's transaction (the caller commits or rolls back)."""
    tables = m.Base.metadata.tables
    loader = _Loader(connection, blob_dir, progress)
    iterator = iter(lines)
    first = next(iterator, None)
    if first is None:
        raise ValidationError("The file is empty: not a Flightlog export.")
    _header(first)
    try:
        for number, raw in enumerate(iterator, start=2):
            if not raw.strip():
                continue
            try:
                document = json.loads(raw)
                name, row = document["table"], document["row"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise ValidationError(
                    f"line {number}: not a valid export row; the file is corrupt or truncated",
                    line=number,
                ) from None
            if name not in tables or not isinstance(row, dict):
                raise ValidationError(f"line {number}: unknown table {name!r}", line=number)
            loader.add(tables[name], row, number)
        loader.finish_table()
    except IntegrityError as exc:
        raise Conflict(
            "The import clashes with rows already in the database (same ids or unique "
            f"names), or refers to rows it does not contain: {exc.orig}. Nothing was imported."
        ) from None
    _reset_identity(connection)
    return loader.result

"""Write a scope of a Flightlog database to the JSON Lines export format."""

from __future__ import annotations

import base64
import contextlib
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Table, select

from flightlog import models as m
from flightlog.db.engine import SQLITE_BEGIN_MODE
from flightlog.errors import NotFound, ValidationError
from flightlog.ops.export_scope import Scope, build_filters
from flightlog.ops.jsonl_format import (
    BLOB_FILE_FIELD,
    FORMAT_NAME,
    FORMAT_VERSION,
    RowDigest,
    dumps,
    encode_row,
)
from flightlog.services import blobs

STREAM_BATCH = 2000
Progress = Callable[[str, int], None]
#: A statement that reads the database, so that the snapshot starts with it.
_FIRST_READ = {"sqlite": "SELECT count(*) FROM sqlite_master", "postgresql": "SELECT 1"}


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


@contextlib.contextmanager
def read_snapshot(connection: Connection) -> Iterator[Connection]:
    """One read-only transaction that sees the database as it was at its first read.

    The trailer certifies the rows as one whole, so they must come from one
    moment: PostgreSQL reads at REPEATABLE READ, READ ONLY (every table from
    the snapshot its first query took); SQLite begins DEFERRED, so WAL gives
    the same snapshot without the write lock, and writers (the API, workers)
    carry on during a long export. The transaction is rolled back at the end:
    it wrote nothing.

    A connection already inside a transaction is used as it is: its caller
    chose that transaction's isolation and owns it.
    """
    if connection.in_transaction():
        yield connection
        return
    sqlite = connection.dialect.name == "sqlite"
    previous = connection.get_execution_options().get(SQLITE_BEGIN_MODE, "IMMEDIATE")
    if sqlite:
        connection.execution_options(**{SQLITE_BEGIN_MODE: "DEFERRED"})
    transaction = connection.begin()
    try:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        # Take the snapshot now, with a read: on both dialects it is taken at the first read.
        connection.exec_driver_sql(_FIRST_READ[connection.dialect.name])
        yield connection
    finally:
        transaction.rollback()
        if sqlite:
            connection.execution_options(**{SQLITE_BEGIN_MODE: previous})


def export_lines(
    connection: Connection,
    scope: Scope,
    *,
    schema_revision: str,
    blob_dir: Path,
    progress: Progress | None = None,
) -> Iterator[str]:
    """Yield the export, line by line (without newlines).

    A header, then rows table by table, parents first, then the trailer with
    the number of rows and their SHA-256. A consumer that stops early (or an
    error part-way) leaves no trailer, so the importer refuses what was written.

    Every row comes from one snapshot (:func:`read_snapshot`): rows committed
    by others while the export runs are in no table of it, so the trailer
    certifies the database as it was when the export began. Given a
    connection already in a transaction, the export reads in that one instead.
    """
    with read_snapshot(connection):
        yield from _export_lines(
            connection, scope, schema_revision=schema_revision, blob_dir=blob_dir, progress=progress
        )


def _export_lines(
    connection: Connection,
    scope: Scope,
    *,
    schema_revision: str,
    blob_dir: Path,
    progress: Progress | None,
) -> Iterator[str]:
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
    digest = RowDigest()
    for table in m.Base.metadata.sorted_tables:
        included, where = filters.for_table(table.name)
        if not included:
            continue
        count = 0
        for row in _rows(connection, table, where):
            encoded = encode_row(table, row)
            if table.name == "artifact_blobs" and row.get("storage_path"):
                # Verified on the way out: a missing or altered file is an error, not a bad export.
                content = blobs.read_blob(blob_dir, row["storage_path"], row["sha256"])
                encoded[BLOB_FILE_FIELD] = base64.b64encode(content).decode("ascii")
            line = dumps({"table": table.name, "row": encoded})
            digest.add(line.encode("utf-8"))
            yield line
            count += 1
        if progress is not None:
            progress(table.name, count)
    yield dumps(digest.trailer())


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
    lines = 0
    for line in export_lines(
        connection, scope, schema_revision=schema_revision, blob_dir=blob_dir, progress=progress
    ):
        out.write(line)
        out.write("\n")
        lines += 1
    return lines - 2  # the header and the trailer


def export_to_file(
    connection: Connection,
    scope: Scope,
    path: Path,
    *,
    schema_revision: str,
    blob_dir: Path,
    progress: Progress | None = None,
) -> int:
    """Write the export to ``path`` all at once; returns the number of rows written.

    The lines go to a hidden temporary file beside ``path``, which is flushed
    to disk and renamed over ``path`` only once the trailer is written. An
    error (or Ctrl-C) part-way removes the temporary file; ``path`` is then
    untouched (a file already there stays as it was), so no partial export
    can pass for a whole one. The file is readable by its owner only: an
    export holds every row, API key hashes included.
    """
    path = Path(path)
    if path.is_dir():
        raise ValidationError(f"{path} is a directory; give the name of the file to write.")
    try:
        fd, temporary = tempfile.mkstemp(
            dir=path.absolute().parent, prefix=f".{path.name}.", suffix=".partial"
        )
    except OSError as exc:
        raise ValidationError(
            f"Cannot write in {path.absolute().parent} ({exc.strerror or exc}); "
            "give a file in a directory that exists and you can write to."
        ) from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            rows = export_to(
                connection,
                scope,
                handle,
                schema_revision=schema_revision,
                blob_dir=blob_dir,
                progress=progress,
            )
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _sync_directory(path.absolute().parent)
    return rows


def _sync_directory(directory: Path) -> None:
    """Make the rename durable; best effort (not every platform can open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

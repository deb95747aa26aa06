"""Load a JSON Lines export into a database at head, all or nothing.

Rows are inserted in the file's order (parents first) in batches, inside one
transaction: any bad line, unknown table, version mismatch or constraint
violation rolls the whole import back. Self-references (a subtask's parent,
a nested agent run, an event's parent event) are inserted empty and filled
in once their table is complete, so row order within a table does not matter.

Rows keep their ids (and a composite key, as the span ledger ``otlp_spans``
has, is just its columns), so anything already in the target with the same
key or unique name (a customer, or a session of the same conversation)
clashes and nothing is imported. A ``null`` in a nullable JSON column is
stored as SQL NULL: the export cannot tell SQL NULL from JSON ``null``, and
the ledger counts a span as waiting for its parent when its ``pending`` is
not SQL NULL.

A file must prove it is whole: its trailer's record count and SHA-256 must
match the rows read, and nothing may follow the trailer. The check ends the
import, before the caller commits; :func:`verify_export_file` makes the same
check on a file without a database, so a command can refuse a damaged file
before it touches (or creates) one.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, event, func, select, text, update
from sqlalchemy.exc import IntegrityError

from flightlog import models as m
from flightlog.db.partition_layout import PARTITION_KEYS
from flightlog.db.partitions import ids_taken
from flightlog.errors import Conflict, ValidationError
from flightlog.ops.jsonl_format import (
    BLOB_FILE_FIELD,
    FIRST_VERIFIED_VERSION,
    FORMAT_NAME,
    SUPPORTED_VERSIONS,
    TRAILER_KEY,
    TRAILER_PREFIX,
    RowDigest,
    decode_row,
    insert_statement,
)
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


NOTHING_IMPORTED = "nothing was imported"


def _text(raw: str | bytes, number: int) -> tuple[bytes, str]:
    """A line as the bytes the checksum covers and the text the parser reads."""
    if isinstance(raw, str):
        return raw.encode("utf-8"), raw
    try:
        return raw, raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError(
            f"line {number} is not UTF-8 text, so this is not a Flightlog export "
            f"(decompress a compressed one first); {NOTHING_IMPORTED}.",
            line=number,
        ) from None


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


class _Integrity:
    """What a file says about itself, checked line by line: header, rows, trailer last."""

    def __init__(self, *, allow_unverified: bool) -> None:
        self.allow_unverified = allow_unverified
        self.digest = RowDigest()
        self.verified = True
        self.trailer: dict[str, Any] | None = None
        self.lines = 0

    def header(self, raw: str | bytes) -> dict[str, Any]:
        self.lines = 1
        _, text = _text(raw, 1)
        header = _header(text)
        if header["version"] < FIRST_VERIFIED_VERSION:
            if not self.allow_unverified:
                raise ValidationError(
                    f"This export is format version {header['version']}, which carries no "
                    "record count or checksum, so nobody can tell whether it is complete; "
                    "re-export it with this Flightlog, or import it with --allow-unverified "
                    f"(allow_unverified=True) if you know it is whole; {NOTHING_IMPORTED}."
                )
            self.verified = False
        return header

    def line(self, number: int, raw: str | bytes) -> str | None:
        """The text of a row line, or None for the trailer."""
        self.lines = number
        data, text = _text(raw, number)
        if self.trailer is not None:
            raise ValidationError(
                f"line {number}: more lines follow the trailer, so the file was changed or "
                f"two files were joined; {NOTHING_IMPORTED}.",
                line=number,
            )
        if self.verified and text.startswith(TRAILER_PREFIX):
            self.trailer = self._parse_trailer(text, number)
            return None
        self.digest.add(data)
        return text

    @staticmethod
    def _parse_trailer(text: str, number: int) -> dict[str, Any]:
        try:
            trailer = json.loads(text)[TRAILER_KEY]
            records, sha256 = trailer["records"], trailer["sha256"]
        except (json.JSONDecodeError, KeyError, TypeError):
            trailer = records = sha256 = None
        if not (isinstance(records, int) and isinstance(sha256, str)):
            raise ValidationError(
                f"line {number}: the trailer is damaged (it needs a record count and a "
                f"sha256); {NOTHING_IMPORTED}.",
                line=number,
            )
        return cast(dict[str, Any], trailer)

    def finish(self) -> int:
        """Check the trailer against what was read; returns the number of records."""
        if not self.verified:
            return self.digest.records
        if self.trailer is None:
            raise ValidationError(
                f"The file ends at line {self.lines} without its trailer, so it is truncated "
                f"(an unfinished export or copy) and {NOTHING_IMPORTED}; export it again."
            )
        if self.trailer["records"] != self.digest.records:
            raise ValidationError(
                f"The file holds {self.digest.records} records but its trailer says "
                f"{self.trailer['records']}, so lines were lost or added; {NOTHING_IMPORTED}."
            )
        if self.trailer["sha256"] != self.digest.sha256:
            raise ValidationError(
                "The file's rows do not match the checksum in its trailer, so it was changed "
                f"or damaged after export; {NOTHING_IMPORTED}."
            )
        return self.digest.records


@dataclass(frozen=True)
class VerifiedExport:
    """What :func:`verify_export_file` found: the header and the number of rows."""

    header: dict[str, Any]
    records: int
    verified: bool


def verify_export_file(path: Path, *, allow_unverified: bool = False) -> VerifiedExport:
    """Check a file's header, row count, checksum and trailer without a database.

    Raises :class:`ValidationError` (one sentence) for anything the importer
    would refuse for the file's own sake: not UTF-8, not an export, an unknown
    version, a missing or damaged trailer, a count or checksum that does not
    match, lines after the trailer. Rows are not parsed.
    """
    check = _Integrity(allow_unverified=allow_unverified)
    with path.open("rb") as handle:
        first = handle.readline()
        if not first:
            raise ValidationError("The file is empty: not a Flightlog export.")
        header = check.header(first)
        for number, raw in enumerate(handle, start=2):
            check.line(number, raw)
    return VerifiedExport(header=header, records=check.finish(), verified=check.verified)


class _Loader:
    def __init__(
        self, connection: Connection, staging: blobs.BlobStaging, progress: Progress | None
    ) -> None:
        self.connection = connection
        self.staging = staging
        self.progress = progress
        self.result = ImportResult()
        self.table: Table | None = None
        self.batch: list[dict[str, Any]] = []
        #: (row id, its self-reference, its exported updated_at or None) to set after the insert.
        self.deferred: list[tuple[Any, Any, Any]] = []
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
            self.deferred.append((values["id"], values[self_ref], values.get("updated_at")))
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
            # Held aside until the import commits: a failed import leaves no file behind.
            row["storage_path"] = self.staging.stage(str(row["sha256"]), content)
        return row

    def _flush_batch(self) -> None:
        if self.table is None or not self.batch:
            return
        _refuse_taken_ids(self.connection, self.table, self.batch)
        self.connection.execute(insert_statement(self.table, self.batch[0]), self.batch)
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
            self.connection.execute(
                update(table).where(key == _bind("row_id")).values({self_ref: _bind("ref")}),
                [{"row_id": rid, "ref": ref} for rid, ref, _ in self.deferred],
            )
            if "updated_at" in table.c:
                # The database stamps updated_at on an UPDATE that leaves it alone (migration
                # 0009's triggers), so the exported value is put back by a second UPDATE that
                # changes it, which the trigger keeps.
                self.connection.execute(
                    update(table).where(key == _bind("row_id")).values(updated_at=_bind("at")),
                    [{"row_id": rid, "at": at} for rid, _, at in self.deferred],
                )
        self.deferred = []
        self.tables_done.add(table.name)
        if self.progress is not None:
            self.progress(table.name, self.result.counts.get(table.name, 0))
        self.table = None


def _refuse_taken_ids(connection: Connection, table: Table, batch: list[dict[str, Any]]) -> None:
    """A file's id that is taken is a clash, on partitioned tables too (see ``ids_taken``)."""
    if table.name in PARTITION_KEYS and ids_taken(connection, table, [r["id"] for r in batch]):
        raise Conflict(
            f"The import clashes with rows already in the database: an id of {table.name} "
            "is already taken (or repeated in the file). Nothing was imported."
        )


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
    lines: Iterable[str | bytes],
    *,
    blob_dir: Path,
    progress: Progress | None = None,
    allow_unverified: bool = False,
    staging: blobs.BlobStaging | None = None,
) -> ImportResult:
    """Import an export inside the caller's transaction (the caller commits or rolls back).

    ``lines`` are a file's lines as bytes (a file opened in binary mode) or
    text, with or without their newlines. The trailer is checked before this
    returns; any :class:`ValidationError` leaves the caller's transaction to
    roll back. ``allow_unverified`` lets a version 1 file (which has no
    trailer) in.

    Blob files are never written in place while the transaction is open.
    Given a ``staging`` (a :class:`~flightlog.services.blobs.BlobStaging` of
    the blob directory), they are staged there and the caller publishes them
    once its commit has returned, or discards them. Without one, they are
    staged in ``blob_dir`` and moved into place as the connection commits
    (just before the database's own commit, which SQLAlchemy offers no hook
    after), or removed when it rolls back. Either way, an import that fails
    here leaves the blob directory as it was.
    """
    if staging is None:
        staging = blobs.BlobStaging(blob_dir)
        _publish_with_the_transaction(connection, staging)
    try:
        return _import(connection, lines, staging, progress, allow_unverified)
    except BaseException:
        staging.discard()
        raise


def _publish_with_the_transaction(connection: Connection, staging: blobs.BlobStaging) -> None:
    def publish(_connection: Connection) -> None:
        if not staging.finished:  # a failed import discarded it; the caller committed anyway
            staging.publish()

    def discard(_connection: Connection) -> None:
        staging.discard()

    event.listen(connection, "commit", publish, once=True)
    event.listen(connection, "rollback", discard, once=True)


def _import(
    connection: Connection,
    lines: Iterable[str | bytes],
    staging: blobs.BlobStaging,
    progress: Progress | None,
    allow_unverified: bool,
) -> ImportResult:
    tables = m.Base.metadata.tables
    loader = _Loader(connection, staging, progress)
    check = _Integrity(allow_unverified=allow_unverified)
    iterator = iter(lines)
    first = next(iterator, None)
    if first is None:
        raise ValidationError("The file is empty: not a Flightlog export.")
    check.header(first)
    try:
        for number, raw in enumerate(iterator, start=2):
            text = check.line(number, raw)
            if text is None or not text.strip():
                continue
            try:
                document = json.loads(text)
                name, row = document["table"], document["row"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise ValidationError(
                    f"line {number}: not a valid export row; the file is corrupt or truncated",
                    line=number,
                ) from None
            if name not in tables or not isinstance(row, dict):
                raise ValidationError(f"line {number}: unknown table {name!r}", line=number)
            loader.add(tables[name], row, number)
        check.finish()
        loader.finish_table()
    except IntegrityError as exc:
        where = f" (table {loader.table.name})" if loader.table is not None else ""
        raise Conflict(
            "The import clashes with rows already in the database (same ids or unique "
            f"names), or refers to rows it does not contain{where}: {exc.orig}. "
            "Nothing was imported."
        ) from None
    _reset_identity(connection)
    return loader.result

"""The Flightlog export format: versioned JSON Lines, one row per line.

Line 1 is a header::

    {"format": "flightlog-export", "version": 2, "schema_revision": "0003",
     "exported_at": "...", "scope": {"kind": "task", "id": "..."}}

Every following line but the last is ``{"table": "<name>", "row": {<column>: <value>}}``,
tables in foreign-key order (parents first) so an importer can stream. Values
are JSON-native where possible; the rest is encoded by column type: UUIDs and
Decimals as strings, timestamps as ISO 8601 with microseconds and ``+00:00``,
bytes as base64; a ``null`` is SQL NULL, also in a nullable JSON column
(see :func:`insert_statement`). Blob files (large artifacts) travel inline,
base64-encoded in the ``artifact_blobs`` row's ``file_content`` field, so a
file is self-contained. JSON columns are written with sorted keys, so the same data
exports to the same text from either dialect.

The last line (version 2) is a trailer::

    {"trailer":{"records":<row lines>,"sha256":"<hex>"}}

``sha256`` is taken over the row lines exactly as written: each line's UTF-8
bytes followed by its ``\n``, from the line after the header up to the line
before the trailer. A streaming exporter learns both numbers only at the end,
hence a trailer rather than a header field; an importer that reaches the end
of the file without one knows the file is truncated.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, Insert, LargeBinary, Numeric, Table, Uuid, bindparam, insert
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import JSON, TypeDecorator, TypeEngine

from flightlog.db.types import UtcDateTime
from flightlog.errors import ValidationError

FORMAT_NAME = "flightlog-export"
FORMAT_VERSION = 2
#: Versions an importer reads; version 1 files have no trailer and are only read on request.
SUPPORTED_VERSIONS = frozenset({1, 2})
#: The first version whose files end with a trailer (record count and checksum).
FIRST_VERIFIED_VERSION = 2
TRAILER_KEY = "trailer"
#: How a trailer line starts, as :func:`dumps` writes it (compact, sorted keys).
TRAILER_PREFIX = '{"trailer":'
#: Extra field on artifact_blobs rows carrying the bytes of a blob stored as a file.
BLOB_FILE_FIELD = "file_content"
#: JSON whose Python None is written as SQL NULL rather than JSON ``null``.
JSON_OR_SQL_NULL = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def insert_statement(table: Table, columns: Iterable[str]) -> Insert:
    """The INSERT for rows carrying ``columns``: a None in a nullable JSON column is SQL NULL.

    A file says ``null`` for SQL NULL and JSON ``null`` alike, and SQLAlchemy
    would write JSON ``null``; SQL NULL is what an absent value is everywhere
    else (the span ledger's ``pending IS NULL`` means "recorded").
    """
    present = set(columns)
    nullable_json = {
        column.name: bindparam(column.name, type_=JSON_OR_SQL_NULL)
        for column in table.columns
        if column.name in present and column.nullable and isinstance(column.type, JSON)
    }
    statement = insert(table)
    return statement.values(nullable_json) if nullable_json else statement


def _base_type(column: Column[Any]) -> TypeEngine[Any]:
    column_type: TypeEngine[Any] = column.type
    if isinstance(column_type, UtcDateTime):
        return column_type
    if isinstance(column_type, TypeDecorator):
        return column_type.impl_instance
    return column_type


def encode_value(column: Column[Any], value: Any) -> Any:
    """A column value as JSON-compatible data."""
    if value is None:
        return None
    column_type = _base_type(column)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(column_type, JSON):
        return value
    if hasattr(value, "value") and isinstance(value.value, str):  # StrEnum members
        return value.value
    return value


def decode_value(column: Column[Any], value: Any) -> Any:
    """The Python value for a column from its exported JSON form."""
    if value is None:
        return None
    column_type = _base_type(column)
    if isinstance(column_type, Uuid):
        return uuid.UUID(value)
    if isinstance(column_type, UtcDateTime):
        return datetime.fromisoformat(value)
    if isinstance(column_type, Numeric) and column_type.asdecimal:
        return Decimal(value)
    if isinstance(column_type, LargeBinary):
        return base64.b64decode(value)
    return value


def encode_row(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    return {
        column.name: encode_value(column, row[column.name])
        for column in table.columns
        if column.name in row
    }


def decode_row(table: Table, row: dict[str, Any], *, line: int) -> dict[str, Any]:
    unknown = set(row) - set(table.columns.keys()) - {BLOB_FILE_FIELD}
    if unknown:
        raise ValidationError(
            f"line {line}: unknown columns for {table.name}: {', '.join(sorted(unknown))}",
            line=line,
        )
    try:
        return {
            column.name: decode_value(column, row[column.name])
            for column in table.columns
            if column.name in row
        }
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"line {line}: bad value in {table.name}: {exc}", line=line) from None


def dumps(document: dict[str, Any]) -> str:
    """One line of the format: compact, sorted keys, UTF-8 kept readable."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class RowDigest:
    """The trailer's two numbers, kept while row lines go past (written or read)."""

    def __init__(self) -> None:
        self.records = 0
        self._sha = hashlib.sha256()

    def add(self, line: bytes) -> None:
        """Count one row line: its UTF-8 bytes, ending in the line's ``\\n``."""
        self._sha.update(line if line.endswith(b"\n") else line + b"\n")
        self.records += 1

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()

    def trailer(self) -> dict[str, Any]:
        return {TRAILER_KEY: {"records": self.records, "sha256": self.sha256}}

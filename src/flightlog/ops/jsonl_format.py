"""The Flightlog export format: versioned JSON Lines, one row per line.

Line 1 is a header::

    {"format": "flightlog-export", "version": 1, "schema_revision": "0003",
     "exported_at": "...", "scope": {"kind": "task", "id": "..."}}

Every following line is ``{"table": "<name>", "row": {<column>: <value>}}``,
tables in foreign-key order (parents first) so an importer can stream. Values
are JSON-native where possible; the rest is encoded by column type: UUIDs and
Decimals as strings, timestamps as ISO 8601 with microseconds and ``+00:00``,
bytes as base64. Blob files (large artifacts) travel inline, base64-encoded in
the ``artifact_blobs`` row's ``file_content`` field, so a file is
self-contained. JSON columns are written with sorted keys, so the same data
exports to the same text from either dialect.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, LargeBinary, Numeric, Table, Uuid
from sqlalchemy.types import JSON, TypeDecorator, TypeEngine

from flightlog.db.types import UtcDateTime
from flightlog.errors import ValidationError

FORMAT_NAME = "flightlog-export"
FORMAT_VERSION = 1
SUPPORTED_VERSIONS = frozenset({1})
#: Extra field on artifact_blobs rows carrying the bytes of a blob stored as a file.
BLOB_FILE_FIELD = "file_content"


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

"""Values in the exact form each driver receives them, bypassing SQLAlchemy's type layer.

The bulk paths hand rows straight to asyncpg or sqlite3, so they must write
what SQLAlchemy's column types would have written, or ORM reads of ingested
rows would differ from reads of rows written through the ORM:

* ``Uuid`` is native ``uuid`` on PostgreSQL and 32 lowercase hex digits on SQLite;
* ``UtcDateTime`` is ``timestamptz`` on PostgreSQL and naive UTC text
  ``YYYY-MM-DD HH:MM:SS.ffffff`` on SQLite (SQLAlchemy's DATETIME storage format);
* JSON is text from ``json.dumps`` with its default separators on both (SQLAlchemy
  registers identity JSON codecs on asyncpg, so PostgreSQL receives the text too).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.dialects import sqlite

from flightlog.db.types import utcnow


def _same(value: uuid.UUID) -> uuid.UUID:
    return value


def _hex(value: uuid.UUID) -> str:
    return value.hex


def _hex_from_text(text: str) -> str:
    # Only called on text already matched as the canonical 8-4-4-4-12 form.
    return text.replace("-", "").lower()


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _sqlite_text(value: datetime) -> str:
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # "YYYY-MM-DD HH:MM:SS.ffffff" is the first 26 characters; the "+00:00" is dropped.
    return value.isoformat(" ", "microseconds")[:26]


def _uuid_from_hex(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(hex=value)


@dataclass(frozen=True)
class Codec:
    """How one dialect's driver wants UUIDs and timestamps."""

    dialect: str
    encode_uuid: Callable[[uuid.UUID], Any]
    encode_uuid_text: Callable[[str], Any]
    encode_time: Callable[[datetime], Any]

    def to_uuid(self, value: Any) -> uuid.UUID:
        """Back from the driver form, for queries that go through SQLAlchemy."""
        return _uuid_from_hex(value)


POSTGRES = Codec("postgresql", encode_uuid=_same, encode_uuid_text=uuid.UUID, encode_time=_utc)
SQLITE = Codec(
    "sqlite", encode_uuid=_hex, encode_uuid_text=_hex_from_text, encode_time=_sqlite_text
)

#: The SQL of the database clock default (``utcnow()``) on SQLite, reused so an
#: omitted time gets exactly the value the column default would have given it.
SQLITE_NOW = str(utcnow().compile(dialect=sqlite.dialect()))


def codec_for(dialect_name: str) -> Codec:
    """The codec of a dialect Flightlog supports."""
    return POSTGRES if dialect_name == "postgresql" else SQLITE

"""Column types that behave the same on SQLite and PostgreSQL.

SQLite has no timestamp-with-time-zone and no JSONB; PostgreSQL has both.
These types hide that difference so models are written once and every value
read back is a timezone-aware UTC ``datetime`` or plain JSON data.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import uuid_utils.compat as uuid_compat
from sqlalchemy import JSON, BigInteger, DateTime, Integer, TypeDecorator, Uuid, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapper
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

#: JSON everywhere, stored as JSONB on PostgreSQL so it can be indexed with GIN.
JSONType = JSON().with_variant(JSONB(), "postgresql")

#: 64-bit identity on PostgreSQL; on SQLite it must be exactly INTEGER to be the rowid.
BigIntIdentity = BigInteger().with_variant(Integer(), "sqlite")


def new_uuid() -> uuid.UUID:
    """A time-ordered UUIDv7: ids sort by creation, which keeps B-tree inserts local."""
    return uuid_compat.uuid7()


class utcnow(FunctionElement[datetime]):  # noqa: N801 - reads like the SQL function it renders
    """The database's current UTC time, with sub-second precision on both dialects."""

    type = DateTime(timezone=True)
    inherit_cache = True


@compiles(utcnow, "postgresql")
def _utcnow_postgresql(element: utcnow, compiler: SQLCompiler, **compiler_options: Any) -> str:
    return "now()"


@compiles(utcnow, "sqlite")
def _utcnow_sqlite(element: utcnow, compiler: SQLCompiler, **compiler_options: Any) -> str:
    # Same text shape SQLAlchemy's SQLite DATETIME writes, so both sort together.
    return "(strftime('%Y-%m-%d %H:%M:%f000', 'now'))"


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python.

    PostgreSQL stores ``timestamptz``. SQLite stores naive UTC text; we
    convert on the way in and attach UTC on the way out, so comparisons and
    arithmetic never mix naive and aware values.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(
                f"naive datetime {value!r} given; Flightlog stores UTC and needs an aware value"
            )
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class UuidText(TypeDecorator[uuid.UUID]):
    """A UUID column that also takes its text form (``str(uuid.uuid4())``), on both dialects.

    SQLAlchemy's ``Uuid`` binds a ``str`` on PostgreSQL (the driver parses it)
    but fails on SQLite (it reads ``value.hex``), so code written against one
    database broke on the other (seed 001 creates its tasks with
    ``id=str(uuid.uuid4())``). Text is parsed here first; text that is not a
    UUID is a ``ValueError`` (a ``ValidationError`` from the Store). Values read
    back are always ``uuid.UUID``. The DDL is ``Uuid``'s, so no migration differs.
    """

    impl = Uuid
    cache_ok = True

    @property
    def python_type(self) -> type[uuid.UUID]:
        """What values read back are (``TypeDecorator`` does not say it by itself)."""
        return uuid.UUID

    def process_bind_param(
        self, value: uuid.UUID | str | None, dialect: Dialect
    ) -> uuid.UUID | None:
        if value is None or isinstance(value, uuid.UUID):
            return value
        if isinstance(value, str):
            try:
                return uuid.UUID(value)
            except ValueError:
                raise ValueError(f"{value!r} is not a UUID") from None
        raise TypeError(f"a UUID or its text is needed, got {type(value).__name__}")


def _uuid_from_text(target: object, value: object, oldvalue: object, initiator: object) -> object:
    """A UUID's text assigned to a UUID attribute becomes the ``uuid.UUID`` (else unchanged:
    text that is no UUID is refused when it is written)."""
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            return value
    return value


@event.listens_for(Mapper, "mapper_configured")
def _parse_uuid_text_on_set(mapper: Mapper[Any], class_: type[Any]) -> None:
    """``Task(id=str(uuid.uuid4()))`` holds a ``uuid.UUID``, so the session's identity map
    has one key per row (a text id and the UUID read back would be two objects)."""
    for attribute in mapper.column_attrs:
        if any(isinstance(column.type, UuidText) for column in attribute.columns):
            event.listen(getattr(class_, attribute.key), "set", _uuid_from_text, retval=True)

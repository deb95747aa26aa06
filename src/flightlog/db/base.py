"""The declarative base every table hangs off, and its shared columns.

One constraint naming convention means every index, unique, check and
foreign key has a predictable name on both dialects, which is what makes
``flightlog db check`` (Alembic autogenerate) stable and downgrades precise.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, MetaData, Table, event
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from flightlog.db.enum_type import AnyCaseEnum, coerce_on_set
from flightlog.db.types import JSONType, UtcDateTime, UuidText, new_uuid, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Root of the ORM; owns the one ``MetaData`` that migrations compare against."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # Fetch database-set values (updated_at, server defaults) at flush time with
    # RETURNING, so rows stay fully readable after their session has closed.
    __mapper_args__ = {"eager_defaults": True}
    type_annotation_map = {
        datetime: UtcDateTime(),
        dict[str, Any]: JSONType,
        list[Any]: JSONType,
        list[str]: JSONType,
        uuid.UUID: UuidText(),
    }


def str_enum(enum_cls: type[enum.StrEnum], name: str) -> Enum:
    """A VARCHAR column with a named CHECK listing the enum's values.

    Native PostgreSQL ENUM types are avoided on purpose: adding a value
    needs ``ALTER TYPE`` outside a transaction and removing one is not
    possible, while a CHECK constraint is replaced in one migration step.
    Values are stored upper-case and accepted in any case (see
    :mod:`flightlog.db.enum_type`).
    """
    return AnyCaseEnum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


# Assigning "pending" to an enum attribute stores TaskStatus.PENDING (flightlog.db.enum_type).
event.listen(Base, "mapper_configured", coerce_on_set, propagate=True)


class UuidPk:
    """A time-ordered UUID primary key, generated client-side so it is known before flush."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid, sort_order=-10)


class CreatedAt:
    """Creation time, set by the database clock so every writer agrees."""

    created_at: Mapped[datetime] = mapped_column(
        server_default=utcnow(), nullable=False, sort_order=10
    )


class Timestamps(CreatedAt):
    """Creation and last-update time, both set by the database clock."""

    updated_at: Mapped[datetime] = mapped_column(
        server_default=utcnow(), onupdate=utcnow(), nullable=False, sort_order=11
    )


__all__ = ["NAMING_CONVENTION", "Base", "CreatedAt", "JSONType", "Timestamps", "UuidPk", "str_enum"]


def table_of(model: type[Base]) -> Table:
    """A model's table, for Core statements (executemany without the ORM's bookkeeping)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table

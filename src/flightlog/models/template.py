"""Reusable project templates (seed 003)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import CheckConstraint, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from flightlog.db.base import Base, Timestamps, UuidPk
from flightlog.models._columns import owner_fk

if TYPE_CHECKING:
    from flightlog.models.tenancy import Customer


class Template(UuidPk, Timestamps, Base):
    """Files with ``{{variable}}`` placeholders, rendered into a new project."""

    __tablename__ = "templates"
    __table_args__ = (
        UniqueConstraint("customer_id", "name"),
        CheckConstraint(
            "setup_time_minutes IS NULL OR setup_time_minutes >= 0", name="setup_time_nonnegative"
        ),
        Index("ix_templates_tags_gin", "tags", postgresql_using="gin").ddl_if(dialect="postgresql"),
        Index("ix_templates_tech_stack_gin", "tech_stack", postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
    )

    customer_id: Mapped[uuid.UUID] = owner_fk("customers.id", index=False)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    files: Mapped[dict[str, Any]] = mapped_column(default=dict)
    required_variables: Mapped[list[str]] = mapped_column(default=list)
    optional_variables: Mapped[list[str]] = mapped_column(default=list)
    tech_stack: Mapped[list[str]] = mapped_column(default=list)
    tags: Mapped[list[str]] = mapped_column(default=list)
    complexity: Mapped[str | None] = mapped_column(String(32))
    setup_time_minutes: Mapped[int | None]

    customer: Mapped[Customer] = relationship(lazy="raise_on_sql")

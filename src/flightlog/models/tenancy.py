"""Customers (tenants) and their API keys (seed 002)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from flightlog.db.base import Base, CreatedAt, Timestamps, UuidPk, str_enum
from flightlog.enums import CustomerPlan, CustomerStatus
from flightlog.models._columns import owner_fk

if TYPE_CHECKING:
    from flightlog.models.agent import Agent
    from flightlog.models.project import Project


class Customer(UuidPk, Timestamps, Base):
    """A tenant: everything tenant-scoped hangs off one customer."""

    __tablename__ = "customers"

    name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    plan: Mapped[CustomerPlan] = mapped_column(
        str_enum(CustomerPlan, "plan"), default=CustomerPlan.FREE, server_default="FREE"
    )
    status: Mapped[CustomerStatus] = mapped_column(
        str_enum(CustomerStatus, "status"),
        default=CustomerStatus.ACTIVE,
        server_default="ACTIVE",
        index=True,
    )
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)

    projects: Mapped[list[Project]] = relationship(
        back_populates="customer", passive_deletes=True, lazy="raise_on_sql"
    )
    agents: Mapped[list[Agent]] = relationship(
        back_populates="customer", passive_deletes=True, lazy="raise_on_sql"
    )
    api_keys: Mapped[list[ApiKey]] = relationship(
        back_populates="customer", passive_deletes=True, lazy="raise_on_sql"
    )

    def __repr__(self) -> str:
        return f"<Customer {self.id} {self.name!r} {self.plan}>"


class ApiKey(UuidPk, CreatedAt, Base):
    """A credential for one customer. Only a hash of the secret is ever stored.

    ``prefix`` is a short, non-secret leading part of the key that makes
    lookup an index probe instead of a hash over every row.
    """

    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint("length(prefix) >= 6", name="prefix_length"),)

    customer_id: Mapped[uuid.UUID] = owner_fk("customers.id")
    name: Mapped[str] = mapped_column(String(255))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(128), unique=True)
    scopes: Mapped[list[str]] = mapped_column(default=list)
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    customer: Mapped[Customer] = relationship(back_populates="api_keys", lazy="raise_on_sql")

    def __repr__(self) -> str:
        # Never the hash, never the secret.
        return f"<ApiKey {self.id} {self.prefix}… customer={self.customer_id}>"

"""Small column helpers shared by several models, so the rules read alike."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column


def owner_fk(
    target: str, *, nullable: bool = False, index: bool = True, deferrable: bool = False
) -> Mapped[uuid.UUID]:
    """A reference to the row that owns this one: deleting the owner deletes it.

    ``deferrable``: still checked as each row is written, unless a transaction
    defers it (``DEFERRABLE INITIALLY IMMEDIATE``). Only references to a run are:
    OTLP span ingest writes a request's rows before their runs (migration 0012,
    decision 0024). On PostgreSQL only; SQLite's tables keep plain definitions.
    """
    key = ForeignKey(
        target,
        ondelete="CASCADE",
        deferrable=True if deferrable else None,
        initially="IMMEDIATE" if deferrable else None,
    )
    return mapped_column(key, nullable=nullable, index=index)


def shared_fk(target: str, *, index: bool = True) -> Mapped[uuid.UUID | None]:
    """A reference to something shared (an agent): deleting it leaves this row, with NULL."""
    return mapped_column(ForeignKey(target, ondelete="SET NULL"), nullable=True, index=index)

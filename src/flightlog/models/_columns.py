"""Small column helpers shared by several models, so the rules read alike."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column


def owner_fk(target: str, *, nullable: bool = False, index: bool = True) -> Mapped[uuid.UUID]:
    """A reference to the row that owns this one: deleting the owner deletes it."""
    return mapped_column(ForeignKey(target, ondelete="CASCADE"), nullable=nullable, index=index)


def shared_fk(target: str, *, index: bool = True) -> Mapped[uuid.UUID | None]:
    """A reference to something shared (an agent): deleting it leaves this row, with NULL."""
    return mapped_column(ForeignKey(target, ondelete="SET NULL"), nullable=True, index=index)

"""Sessions: the conversations that group runs (issue 12).

An agent framework names a conversation (``gen_ai.conversation.id``,
OpenInference's ``session.id``); every run recorded under that name within
one customer belongs to one session. The class is ``AgentSession`` only so it
never shadows SQLAlchemy's ``Session`` in code that imports both.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from flightlog.db.base import Base, Timestamps, UuidPk
from flightlog.models._columns import owner_fk


class AgentSession(UuidPk, Timestamps, Base):
    """A conversation of one customer; ``external_id`` is the name its producer gave it."""

    __tablename__ = "sessions"
    __table_args__ = (UniqueConstraint("customer_id", "external_id"),)

    customer_id: Mapped[uuid.UUID] = owner_fk("customers.id", index=False)
    external_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(500))
    started_at: Mapped[datetime | None]
    last_activity_at: Mapped[datetime | None]
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)

    def __repr__(self) -> str:
        return f"<AgentSession {self.id} {self.external_id!r}>"

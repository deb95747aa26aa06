"""One-time links that sign a browser on this machine into the dashboard (issue 14)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from flightlog.db.base import Base, CreatedAt
from flightlog.models._columns import owner_fk


class LocalSignIn(CreatedAt, Base):
    """A sign-in link printed by ``flightlog serve`` / ``flightlog demo --serve``.

    Only the SHA-256 of the token is stored, as the primary key, so the table
    never holds a usable link. Rows live in the database, not in one server
    process, so a link printed by the parent of ``serve --workers N`` works on
    whichever worker the browser reaches. ``used_at`` is set once, by a
    conditional UPDATE that exactly one of two racing redemptions can win.
    """

    __tablename__ = "local_sign_ins"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[uuid.UUID] = owner_fk("customers.id")
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        # Never the hash: it is all a token is checked against.
        return f"<LocalSignIn customer={self.customer_id} expires={self.expires_at}>"

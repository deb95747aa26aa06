"""Ids a caller chooses for what it creates (moving existing data in, seed 001).

Tasks, runs and agent runs take ``id=``: a UUID, or its text (``str(uuid.uuid4())``,
the seed's own ids). Left out, the id is a new UUIDv7 as always. Events keep
their database-made integer ids, which are their order (the feed's cursor).

An id is taken for everyone: primary keys are global, not per tenant. A taken
id is :class:`Conflict` with the same words whoever holds it, so another
tenant learns only that the id is in use (it cannot be used again anyway),
never what holds it, whose it is or anything about it. The check reads just
the key; two writers choosing one id at once meet the primary key, which the
Store also answers with :class:`Conflict`.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from flightlog.errors import Conflict, ValidationError


def parse_id(value: uuid.UUID | str, name: str = "id") -> uuid.UUID:
    """``value`` as a UUID (text is parsed), else :class:`ValidationError`."""
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value.strip())
        except ValueError:
            pass
    raise ValidationError(f"{name} must be a UUID, got {value!r}", field=name)


def chosen_id(session: Session, model: Any, value: uuid.UUID | str | None) -> uuid.UUID | None:
    """The caller's id for a new ``model`` row, checked free; ``None`` keeps the default."""
    if value is None:
        return None
    parsed = parse_id(value)
    if parsed.int == 0:
        raise ValidationError("id cannot be the nil UUID", field="id")
    if session.scalar(select(model.id).where(model.id == parsed)) is not None:
        kind = model.__name__
        raise Conflict(f"{kind} id {parsed} is already taken", entity=kind, id=str(parsed))
    return parsed


__all__ = ["chosen_id", "parse_id"]

"""Things a customer names (projects, templates): one name each, found by that name."""

from __future__ import annotations

import uuid
from typing import Any, Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from flightlog.errors import Conflict, NotFound


class Named(Protocol):
    id: Any
    customer_id: Any
    name: Any


N = TypeVar("N", bound=Named)


def _columns(model: type[Any]) -> tuple[InstrumentedAttribute[Any], ...]:
    return model.id, model.customer_id, model.name


def get_by_name(session: Session, model: type[N], name: str, *, customer_id: uuid.UUID) -> N:
    """The customer's row of that name, or :class:`NotFound`."""
    _, owner, named = _columns(model)
    row: N | None = session.scalar(select(model).where(owner == customer_id, named == name))
    if row is None:
        kind = model.__name__
        raise NotFound(f"{kind} {name!r} not found", entity=kind, name=name)
    return row


def assert_name_free(
    session: Session,
    model: type[Any],
    customer_id: uuid.UUID,
    name: str,
    *,
    except_id: uuid.UUID | None = None,
) -> None:
    """:class:`Conflict` when another of the customer's rows already has ``name``.

    A friendly early answer; the unique constraint still decides under races.
    """
    key, owner, named = _columns(model)
    stmt = select(key).where(owner == customer_id, named == name)
    if except_id is not None:
        stmt = stmt.where(key != except_id)
    if session.scalar(stmt) is not None:
        raise Conflict(f"a {model.__name__.lower()} named {name!r} already exists", name=name)

"""Keyset pages in both directions over a list ordered by its UUIDv7 id, with totals.

The task list (:mod:`flightlog.services.task_list`) sorts by many keys; the
other lists (pull requests, projects, sessions) are newest first only, which is
id order because ids are UUIDv7. This is that simpler case, shared: a cursor is
an id, the page after it holds the rows whose id sorts strictly after it, the
page before it those strictly before. A cursor is only a position, compared
with the customer's own rows, so another customer's id (or a random one) reads
exactly like any id of that time: no row of theirs is looked up or shown.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from flightlog.services._common import require

T = TypeVar("T")


def _beyond(
    stmt: Select[Any], key: InstrumentedAttribute[Any], at: uuid.UUID, descending: bool
) -> Select[Any]:
    """Rows of ``stmt`` whose id sorts strictly after ``at`` in this direction."""
    return stmt.where(key < at if descending else key > at)


def _ordered(stmt: Select[Any], key: InstrumentedAttribute[Any], descending: bool) -> Select[Any]:
    return stmt.order_by(key.desc() if descending else key.asc())


def _count(session: Session, stmt: Select[Any]) -> int:
    counted = select(func.count()).select_from(stmt.order_by(None).subquery())
    return int(session.scalar(counted) or 0)


def id_page(
    session: Session,
    stmt: Select[tuple[T]],
    key: InstrumentedAttribute[uuid.UUID],
    *,
    cursor: uuid.UUID | None,
    before: uuid.UUID | None,
    limit: int,
    total: bool,
    descending: bool = True,
) -> dict[str, Any]:
    """The page of ``stmt`` (already confined to the customer) after ``cursor`` or before
    ``before`` (else the first), as a page's fields: ``items``, ``next_cursor``,
    ``previous_cursor`` and, with ``total``, ``total`` and ``offset`` (rows before the page).
    """
    require(cursor is None or before is None, "give cursor (read on) or before (read back)")
    if before is not None:
        back = _ordered(_beyond(stmt, key, before, not descending), key, not descending)
        rows = list(session.scalars(back.limit(limit + 1)).all())
        items = list(reversed(rows[:limit]))
        more_after, more_before = True, len(rows) > limit
    else:
        on = stmt if cursor is None else _beyond(stmt, key, cursor, descending)
        rows = list(session.scalars(_ordered(on, key, descending).limit(limit + 1)).all())
        items = rows[:limit]
        more_after, more_before = len(rows) > limit, cursor is not None
    ids = [getattr(item, key.key) for item in items]
    fields: dict[str, Any] = {
        "items": items,
        "next_cursor": ids[-1] if ids and more_after else None,
        "previous_cursor": ids[0] if ids and more_before else None,
    }
    if total:
        fields["total"] = _count(session, stmt)
        if ids:
            fields["offset"] = _count(session, _beyond(stmt, key, ids[0], not descending))
        else:
            # Nothing on the page: past the end after a cursor, before the start otherwise.
            fields["offset"] = fields["total"] if cursor is not None else 0
    return fields


__all__ = ["id_page"]

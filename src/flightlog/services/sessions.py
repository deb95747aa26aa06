"""Sessions: a customer's conversations, each grouping the runs recorded under it (issue 12).

OpenTelemetry ingest creates them from ``gen_ai.conversation.id`` /
``session.id``; here they are listed, read and followed to their runs. Totals
(runs, tokens, cost) are computed from the runs when read, so they are never
stale and nothing has to keep them up to date.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flightlog.models import AgentSession, TaskRun
from flightlog.services._common import fitted, get_owned, require
from flightlog.services._paging import id_page

MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class SessionSummary:
    """A session with the totals of its runs."""

    id: uuid.UUID
    external_id: str
    title: str | None
    started_at: datetime | None
    last_activity_at: datetime | None
    details: dict[str, Any]
    created_at: datetime
    run_count: int
    tokens_in: int
    tokens_out: int
    cost_usd: Decimal


@dataclass(frozen=True)
class SessionPage:
    """A page of sessions, newest first, with the cursors to the pages around it.

    ``next_cursor`` (pass as ``cursor``) is None on the last page,
    ``previous_cursor`` (pass as ``before``) None on the first; ``total`` and
    ``offset`` are counted only when asked for, so a page reads "41-60 of 213".
    """

    items: list[SessionSummary]
    next_cursor: uuid.UUID | None
    previous_cursor: uuid.UUID | None = None
    total: int | None = None
    offset: int | None = None


def _summaries(session: Session, rows: list[AgentSession]) -> list[SessionSummary]:
    if not rows:
        return []
    totals = {
        session_id: (int(count), int(tokens_in), int(tokens_out), Decimal(str(cost)))
        for session_id, count, tokens_in, tokens_out, cost in session.execute(
            select(
                TaskRun.session_id,
                func.count(TaskRun.id),
                func.coalesce(func.sum(TaskRun.tokens_in), 0),
                func.coalesce(func.sum(TaskRun.tokens_out), 0),
                func.coalesce(func.sum(TaskRun.cost_usd), 0),
            )
            .where(TaskRun.session_id.in_([row.id for row in rows]))
            .group_by(TaskRun.session_id)
        ).all()
    }
    return [
        SessionSummary(
            id=row.id,
            external_id=row.external_id,
            title=row.title,
            started_at=row.started_at,
            last_activity_at=row.last_activity_at,
            details=row.details,
            created_at=row.created_at,
            run_count=totals.get(row.id, (0, 0, 0, Decimal(0)))[0],
            tokens_in=totals.get(row.id, (0, 0, 0, Decimal(0)))[1],
            tokens_out=totals.get(row.id, (0, 0, 0, Decimal(0)))[2],
            cost_usd=totals.get(row.id, (0, 0, 0, Decimal(0)))[3],
        )
        for row in rows
    ]


#: The width of ``sessions.external_id``.
EXTERNAL_ID_MAX = 255


def fit_external_id(conversation: str) -> str:
    """A producer's conversation id as ``sessions.external_id`` keeps it (see
    :func:`~flightlog.services._common.fitted`); a lookup by the whole id goes through
    here too, and finds it."""
    return fitted(conversation, EXTERNAL_ID_MAX)


def list_sessions(
    session: Session,
    customer_id: uuid.UUID,
    /,
    *,
    limit: int = 50,
    before_id: uuid.UUID | None = None,
    external_id: str | None = None,
) -> list[SessionSummary]:
    """The customer's sessions, newest first; pass the last one's id as ``before_id`` for more.

    ``external_id`` finds the session a producer named so (its conversation id).
    """
    require(1 <= limit <= MAX_PAGE_SIZE, f"limit must be 1 to {MAX_PAGE_SIZE}")
    stmt = select(AgentSession).where(AgentSession.customer_id == customer_id)
    if external_id is not None:
        stmt = stmt.where(AgentSession.external_id == fit_external_id(external_id))
    if before_id is not None:
        stmt = stmt.where(AgentSession.id < before_id)
    rows = list(session.scalars(stmt.order_by(AgentSession.id.desc()).limit(limit)).all())
    return _summaries(session, rows)


def session_page(
    session: Session,
    customer_id: uuid.UUID,
    /,
    *,
    external_id: str | None = None,
    cursor: uuid.UUID | None = None,
    before: uuid.UUID | None = None,
    total: bool = False,
    limit: int = 50,
) -> SessionPage:
    """The customer's sessions newest first, a page at a time, both ways, with their totals.

    A separate operation from :func:`list_sessions`, whose answer (a bare list,
    over HTTP a JSON array) has no room for cursors without breaking its callers.
    Pass ``next_cursor`` as ``cursor`` for the page after, ``previous_cursor`` as
    ``before`` for the page before; ``total=True`` also counts the matching
    sessions and the page's offset among them. A cursor is a position only (ids
    are UUIDv7): any id, even another customer's, pages through the caller's own.
    """
    require(1 <= limit <= MAX_PAGE_SIZE, f"limit must be 1 to {MAX_PAGE_SIZE}")
    stmt = select(AgentSession).where(AgentSession.customer_id == customer_id)
    if external_id is not None:
        stmt = stmt.where(AgentSession.external_id == fit_external_id(external_id))
    fields = id_page(
        session, stmt, AgentSession.id, cursor=cursor, before=before, limit=limit, total=total
    )
    fields["items"] = _summaries(session, fields["items"])
    return SessionPage(**fields)


def get_session(
    session: Session, customer_id: uuid.UUID, /, session_id: uuid.UUID
) -> SessionSummary:
    """One session with its totals, or :class:`NotFound` (also for another customer's)."""
    row = get_owned(session, AgentSession, session_id, customer_id=customer_id)
    return _summaries(session, [row])[0]


def session_runs(
    session: Session, customer_id: uuid.UUID, /, session_id: uuid.UUID
) -> list[TaskRun]:
    """The session's runs in the order they started."""
    get_owned(session, AgentSession, session_id, customer_id=customer_id)
    stmt = (
        select(TaskRun)
        .where(TaskRun.session_id == session_id)
        .order_by(TaskRun.started_at, TaskRun.id)
    )
    return list(session.scalars(stmt).all())

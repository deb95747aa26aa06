"""A task's agent runs in start order, a page at a time both ways (seed 001).

Seed 001 asks for "all agent runs for task X ordered by start time" (its index
``idx_agent_run_task_started``, here ``ix_agent_runs_task_started``). The list
holds every agent run of the task: those of its runs and those recorded for
the task alone (:func:`flightlog.services.agent_runs.start_task_agent_run`).

The order is ``(started_at, id)``, oldest first: total, so a page boundary is
one row. Start times are the callers' (a step measured elsewhere, a replay)
and ids may be the callers' too, so neither alone is the order. A cursor is
an agent run's id, the last (``next_cursor``) or first (``previous_cursor``) of
a page; its start time is read back from the task's agent runs, so a cursor
that is none of them (deleted since, another task's, another tenant's) is a
:class:`ValidationError` that names nothing else.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from flightlog.errors import ValidationError
from flightlog.models import AgentRun, Task
from flightlog.services._common import get_owned, require

#: The most agent runs one page holds.
MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class AgentRunPage:
    """A page of a task's agent runs, oldest start first, with the cursors around it.

    ``next_cursor`` (pass as ``cursor``) is None on the last page,
    ``previous_cursor`` (pass as ``before``) None on the first; ``total`` and
    ``offset`` are counted only when asked for, so a page reads "41-60 of 213".
    """

    items: list[AgentRun]
    next_cursor: uuid.UUID | None
    previous_cursor: uuid.UUID | None = None
    total: int | None = None
    offset: int | None = None


def _after(at: datetime, agent_run_id: uuid.UUID, forward: bool) -> Any:
    """Agent runs strictly after ``(at, agent_run_id)`` in start order (before, backwards)."""
    if forward:
        return or_(
            AgentRun.started_at > at,
            and_(AgentRun.started_at == at, AgentRun.id > agent_run_id),
        )
    return or_(
        AgentRun.started_at < at, and_(AgentRun.started_at == at, AgentRun.id < agent_run_id)
    )


def _ordered(stmt: Select[tuple[AgentRun]], forward: bool) -> Select[tuple[AgentRun]]:
    if forward:
        return stmt.order_by(AgentRun.started_at.asc(), AgentRun.id.asc())
    return stmt.order_by(AgentRun.started_at.desc(), AgentRun.id.desc())


def _start_of(session: Session, task_id: uuid.UUID, agent_run_id: uuid.UUID, name: str) -> datetime:
    at = session.scalar(
        select(AgentRun.started_at).where(AgentRun.id == agent_run_id, AgentRun.task_id == task_id)
    )
    if at is None:
        raise ValidationError(
            f"{name} {agent_run_id} is none of this task's agent runs: start from the first page",
            field=name,
        )
    return at


def list_task_agent_runs(
    session: Session,
    customer_id: uuid.UUID,
    /,
    task_id: uuid.UUID,
    *,
    cursor: uuid.UUID | None = None,
    before: uuid.UUID | None = None,
    total: bool = False,
    limit: int = 50,
) -> AgentRunPage:
    """The task's agent runs by start time, oldest first, a page at a time, both ways.

    Every agent run of the task, in any of its runs or in none. Pass a page's
    ``next_cursor`` as ``cursor`` for the page after it, its ``previous_cursor``
    as ``before`` for the page before; ``total=True`` also counts them all and
    the page's offset among them. Another customer's task is :class:`NotFound`.
    """
    require(
        isinstance(limit, int) and 1 <= limit <= MAX_PAGE_SIZE,
        f"limit must be 1 to {MAX_PAGE_SIZE}",
    )
    require(cursor is None or before is None, "give cursor (read on) or before (read back)")
    get_owned(session, Task, task_id, customer_id=customer_id)
    of_task = select(AgentRun).where(AgentRun.task_id == task_id)
    if before is not None:
        at = _start_of(session, task_id, before, "before")
        back = _ordered(of_task.where(_after(at, before, forward=False)), forward=False)
        rows = list(session.scalars(back.limit(limit + 1)).all())
        items = list(reversed(rows[:limit]))
        more_after, more_before = True, len(rows) > limit
    else:
        on = of_task
        if cursor is not None:
            at = _start_of(session, task_id, cursor, "cursor")
            on = of_task.where(_after(at, cursor, forward=True))
        rows = list(session.scalars(_ordered(on, forward=True).limit(limit + 1)).all())
        items = rows[:limit]
        more_after, more_before = len(rows) > limit, cursor is not None
    page = AgentRunPage(
        items=items,
        next_cursor=items[-1].id if items and more_after else None,
        previous_cursor=items[0].id if items and more_before else None,
    )
    if not total:
        return page
    count = select(func.count(AgentRun.id)).where(AgentRun.task_id == task_id)
    everything = int(session.scalar(count) or 0)
    if items:
        first = items[0]
        offset = int(
            session.scalar(count.where(_after(first.started_at, first.id, forward=False))) or 0
        )
    else:
        offset = everything if cursor is not None else 0
    return AgentRunPage(
        items=items,
        next_cursor=page.next_cursor,
        previous_cursor=page.previous_cursor,
        total=everything,
        offset=offset,
    )


__all__ = ["MAX_PAGE_SIZE", "AgentRunPage", "list_task_agent_runs"]

"""A run's timeline: its agent runs and its events merged in time order, in keyset pages.

Both sources are read in the order the merge needs, each from an index
(``ix_agent_runs_run_started`` and ``ix_events_run_created``), at most
``limit + 1`` rows each, so a page costs the same at the start of a run with
a million events as at its end. Order: time first (an agent run's
``started_at``, an event's ``created_at``); at the same instant an agent
run comes before events, since its start is what they happen in; then id.
"""

from __future__ import annotations

import heapq
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Select, bindparam, select, tuple_
from sqlalchemy.orm import Session

from flightlog.models import AgentRun, Event, TaskRun
from flightlog.services._common import require
from flightlog.services.events import MAX_EVENT_ID
from flightlog.services.runs import get_run

MAX_PAGE_SIZE = 5000
Kind = Literal["agent_run", "event"]
_RANK: dict[str, int] = {"agent_run": 0, "event": 1}


@dataclass(frozen=True)
class TimelineCursor:
    """Where a page ended: the (time, kind, id) of its last entry."""

    at: datetime
    kind: Kind
    key: str


@dataclass(frozen=True)
class TimelineEntry:
    """One agent run (at its start) or one event (at its creation)."""

    at: datetime
    kind: Kind
    item: AgentRun | Event

    @property
    def cursor(self) -> TimelineCursor:
        return TimelineCursor(at=self.at, kind=self.kind, key=str(self.item.id))


@dataclass(frozen=True)
class Timeline:
    """A page of a run's timeline and the cursor of the next page (None at the end)."""

    run: TaskRun
    entries: list[TimelineEntry]
    next_cursor: TimelineCursor | None


def _parse_key(kind: str, key: str) -> Any:
    if kind == "agent_run":
        return uuid.UUID(key)
    event_id = int(key)
    if not 0 <= event_id <= MAX_EVENT_ID:
        raise ValueError(f"event id {event_id} is out of range")
    return event_id


def _agent_runs(run_id: uuid.UUID, after: TimelineCursor | None, limit: int) -> Select[Any]:
    stmt = select(AgentRun).where(AgentRun.run_id == run_id)
    if after is not None:
        at = bindparam("after_at", after.at, type_=AgentRun.started_at.type)
        if after.kind == "agent_run":
            key = bindparam("after_key", uuid.UUID(after.key), type_=AgentRun.id.type)
            stmt = stmt.where(tuple_(AgentRun.started_at, AgentRun.id) > tuple_(at, key))
        else:
            stmt = stmt.where(AgentRun.started_at > at)
    return stmt.order_by(AgentRun.started_at, AgentRun.id).limit(limit + 1)


def _events(run_id: uuid.UUID, after: TimelineCursor | None, limit: int) -> Select[Any]:
    stmt = select(Event).where(Event.run_id == run_id)
    if after is not None:
        at = bindparam("after_at", after.at, type_=Event.created_at.type)
        if after.kind == "event":
            key = bindparam("after_key", int(after.key), type_=Event.id.type)
            stmt = stmt.where(tuple_(Event.created_at, Event.id) > tuple_(at, key))
        else:
            stmt = stmt.where(Event.created_at >= at)
    return stmt.order_by(Event.created_at, Event.id).limit(limit + 1)


def _sort_key(entry: TimelineEntry) -> tuple[datetime, int, Any]:
    return (entry.at, _RANK[entry.kind], entry.item.id)


def run_timeline(
    session: Session,
    customer_id: uuid.UUID,
    /,
    run_id: uuid.UUID,
    *,
    after: TimelineCursor | None = None,
    limit: int = 500,
) -> Timeline:
    """The next ``limit`` entries of the run's timeline after ``after`` (from the start if None).

    :class:`NotFound` for a run of another customer. Pass ``next_cursor`` back
    as ``after`` to read on; every entry is returned exactly once.
    """
    require(1 <= limit <= MAX_PAGE_SIZE, f"limit must be between 1 and {MAX_PAGE_SIZE}")
    if after is not None:
        require(after.kind in _RANK, f"unknown timeline cursor kind {after.kind!r}")
        try:
            _parse_key(after.kind, after.key)
        except ValueError:
            require(False, f"malformed timeline cursor key {after.key!r}")
    run = get_run(session, customer_id, run_id)
    agent_runs = (session.scalars(_agent_runs(run_id, after, limit))).all()
    events = (session.scalars(_events(run_id, after, limit))).all()
    merged = heapq.merge(
        (TimelineEntry(at=a.started_at, kind="agent_run", item=a) for a in agent_runs),
        (TimelineEntry(at=e.created_at, kind="event", item=e) for e in events),
        key=_sort_key,
    )
    entries: list[TimelineEntry] = []
    more = False
    for entry in merged:
        if len(entries) == limit:
            more = True
            break
        entries.append(entry)
    return Timeline(run=run, entries=entries, next_cursor=entries[-1].cursor if more else None)

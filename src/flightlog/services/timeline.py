"""A run's timeline: its agent runs and its events merged in time order, in keyset pages.

Both sources are read in the order the merge needs, each from an index
(``ix_agent_runs_run_started`` and ``ix_events_run_created``), at most
``limit + 1`` rows each, so a page costs the same at the start of a run with
a million events as at its end, reading forward (``after``) or backward
(``before``). Order: time first (an agent run's ``started_at``, an event's
``created_at``); at the same instant an agent run comes before events, since
its start is what they happen in; then id (UUIDv7 for agent runs, so a parent
started at the same instant as its child comes first).
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Select, bindparam, func, select, tuple_
from sqlalchemy.orm import Session

from flightlog.models import AgentRun, Event, TaskRun
from flightlog.services._common import require
from flightlog.services.events import MAX_EVENT_ID
from flightlog.services.runs import get_run

MAX_PAGE_SIZE = 5000
Kind = Literal["agent_run", "event"]
Direction = Literal["after", "before"]
_RANK: dict[str, int] = {"agent_run": 0, "event": 1}
#: Nesting deeper than this is not followed up to its root (a cycle cannot be written,
#: since a parent must exist before its child, but a bound keeps the loop finite).
_MAX_DEPTH = 64


@dataclass(frozen=True)
class TimelineCursor:
    """Where a page ended (or began): the (time, kind, id) of that entry."""

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
    """A page of a run's timeline, oldest entry first, and the cursors around it.

    ``next_cursor`` (pass as ``after``) is None at the end, ``previous_cursor``
    (pass as ``before``) None at the start. ``enclosing`` holds the agent runs
    this page's entries happen in that are not on the page themselves (the
    parents of its agent runs, the agent runs of its events) and their
    ancestors, oldest first, so a page can be drawn nested on its own.
    ``total`` counts every entry of the run when asked for.
    """

    run: TaskRun
    entries: list[TimelineEntry]
    next_cursor: TimelineCursor | None
    previous_cursor: TimelineCursor | None = None
    enclosing: list[AgentRun] = field(default_factory=list)
    total: int | None = None


def _parse_key(kind: str, key: str) -> Any:
    if kind == "agent_run":
        return uuid.UUID(key)
    event_id = int(key)
    if not 0 <= event_id <= MAX_EVENT_ID:
        raise ValueError(f"event id {event_id} is out of range")
    return event_id


def _check(cursor: TimelineCursor | None) -> None:
    if cursor is None:
        return
    require(cursor.kind in _RANK, f"unknown timeline cursor kind {cursor.kind!r}")
    try:
        _parse_key(cursor.kind, cursor.key)
    except ValueError:
        require(False, f"malformed timeline cursor key {cursor.key!r}")


def _agent_runs(
    run_id: uuid.UUID, cursor: TimelineCursor | None, direction: Direction, limit: int
) -> Select[Any]:
    """Agent runs strictly after (or before) the cursor, nearest first, ``limit + 1`` of them."""
    stmt = select(AgentRun).where(AgentRun.run_id == run_id)
    forward = direction == "after"
    if cursor is not None:
        at = bindparam("cursor_at", cursor.at, type_=AgentRun.started_at.type)
        if cursor.kind == "agent_run":
            key = bindparam("cursor_key", uuid.UUID(cursor.key), type_=AgentRun.id.type)
            row, mark = tuple_(AgentRun.started_at, AgentRun.id), tuple_(at, key)
            stmt = stmt.where(row > mark if forward else row < mark)
        else:
            # An event's instant: agent runs of that instant rank before it.
            stmt = stmt.where(AgentRun.started_at > at if forward else AgentRun.started_at <= at)
    if forward:
        return stmt.order_by(AgentRun.started_at, AgentRun.id).limit(limit + 1)
    return stmt.order_by(AgentRun.started_at.desc(), AgentRun.id.desc()).limit(limit + 1)


def _events(
    run_id: uuid.UUID, cursor: TimelineCursor | None, direction: Direction, limit: int
) -> Select[Any]:
    """Events strictly after (or before) the cursor, nearest first, ``limit + 1`` of them."""
    stmt = select(Event).where(Event.run_id == run_id)
    forward = direction == "after"
    if cursor is not None:
        at = bindparam("cursor_at", cursor.at, type_=Event.created_at.type)
        if cursor.kind == "event":
            key = bindparam("cursor_key", int(cursor.key), type_=Event.id.type)
            row, mark = tuple_(Event.created_at, Event.id), tuple_(at, key)
            stmt = stmt.where(row > mark if forward else row < mark)
        else:
            # An agent run's instant: events of that instant rank after it.
            stmt = stmt.where(Event.created_at >= at if forward else Event.created_at < at)
    if forward:
        return stmt.order_by(Event.created_at, Event.id).limit(limit + 1)
    return stmt.order_by(Event.created_at.desc(), Event.id.desc()).limit(limit + 1)


def _sort_key(entry: TimelineEntry) -> tuple[datetime, int, Any]:
    return (entry.at, _RANK[entry.kind], entry.item.id)


def _read(
    session: Session,
    run_id: uuid.UUID,
    cursor: TimelineCursor | None,
    direction: Direction,
    limit: int,
) -> tuple[list[TimelineEntry], bool]:
    """Up to ``limit`` entries beyond the cursor, nearest first, and whether more lie beyond."""
    agent_runs = session.scalars(_agent_runs(run_id, cursor, direction, limit)).all()
    events = session.scalars(_events(run_id, cursor, direction, limit)).all()
    merged = heapq.merge(
        (TimelineEntry(at=a.started_at, kind="agent_run", item=a) for a in agent_runs),
        (TimelineEntry(at=e.created_at, kind="event", item=e) for e in events),
        key=_sort_key,
        reverse=direction == "before",
    )
    entries: list[TimelineEntry] = []
    for entry in merged:
        if len(entries) == limit:
            return entries, True
        entries.append(entry)
    return entries, False


def _beyond(
    session: Session, run_id: uuid.UUID, entry: TimelineEntry, direction: Direction
) -> bool:
    """Whether any entry lies after (or before) ``entry``: at most one indexed row per source."""
    return _read(session, run_id, entry.cursor, direction, 0)[1]


def _enclosing(
    session: Session, run_id: uuid.UUID, entries: Iterable[TimelineEntry]
) -> list[AgentRun]:
    """The agent runs the entries happen in that are not among them, up to their roots."""
    known: dict[uuid.UUID, AgentRun] = {}
    wanted: set[uuid.UUID] = set()
    for entry in entries:
        item = entry.item
        if isinstance(item, AgentRun):
            known[item.id] = item
            if item.parent_id is not None:
                wanted.add(item.parent_id)
        elif item.agent_run_id is not None:
            wanted.add(item.agent_run_id)
    found: dict[uuid.UUID, AgentRun] = {}
    for _ in range(_MAX_DEPTH):
        wanted -= known.keys() | found.keys()
        if not wanted:
            break
        stmt = select(AgentRun).where(AgentRun.run_id == run_id, AgentRun.id.in_(wanted))
        loaded = session.scalars(stmt).all()
        found.update((a.id, a) for a in loaded)
        wanted = {a.parent_id for a in loaded if a.parent_id is not None}
    return sorted(found.values(), key=lambda a: (a.started_at, a.id))


def _total(session: Session, run_id: uuid.UUID) -> int:
    steps = session.scalar(select(func.count()).where(AgentRun.run_id == run_id)) or 0
    events = session.scalar(select(func.count()).where(Event.run_id == run_id)) or 0
    return int(steps) + int(events)


def run_timeline(
    session: Session,
    customer_id: uuid.UUID,
    /,
    run_id: uuid.UUID,
    *,
    after: TimelineCursor | None = None,
    before: TimelineCursor | None = None,
    limit: int = 500,
    total: bool = False,
) -> Timeline:
    """``limit`` entries of the run's timeline, oldest first: from the start, or after ``after``,
    or the ones just before ``before``.

    :class:`NotFound` for a run of another customer. Pass ``next_cursor`` back
    as ``after`` to read on and ``previous_cursor`` as ``before`` to read back;
    every entry is returned exactly once either way. ``total=True`` also counts
    the run's entries (two indexed counts; it is not free on a run of millions).
    """
    require(1 <= limit <= MAX_PAGE_SIZE, f"limit must be between 1 and {MAX_PAGE_SIZE}")
    require(after is None or before is None, "give after or before, not both")
    _check(after)
    _check(before)
    run = get_run(session, customer_id, run_id)
    if before is not None:
        newest_first, more_before = _read(session, run_id, before, "before", limit)
        entries = newest_first[::-1]
        previous = entries[0].cursor if more_before else None
        later = bool(entries) and _beyond(session, run_id, entries[-1], "after")
        following = entries[-1].cursor if later else None
    else:
        entries, more_after = _read(session, run_id, after, "after", limit)
        following = entries[-1].cursor if more_after else None
        earlier = (
            after is not None and bool(entries) and _beyond(session, run_id, entries[0], "before")
        )
        previous = entries[0].cursor if earlier else None
    return Timeline(
        run=run,
        entries=entries,
        next_cursor=following,
        previous_cursor=previous,
        enclosing=_enclosing(session, run_id, entries),
        total=_total(session, run_id) if total else None,
    )

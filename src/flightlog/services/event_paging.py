"""Keyset pages of the event log: the events after (or before) an id cursor, in id order.

Ids only grow, so "events after id N" is a stable cursor: a reader never
skips or repeats a row, however many writers append meanwhile.

**How a page is planned on PostgreSQL** (decision 0016). ``events`` is
partitioned by month of ``created_at`` there, and an id prunes no partition,
so a page's statement is planned over every partition: with fifteen months of
fifteen indexes that is ~1-2 ms of planning for ~0.2 ms of execution. A page
therefore asks for PostgreSQL's generic plan (:func:`_generic_plans`): built once
per connection for the prepared statement (asyncpg prepares every statement)
and reused, so the planning goes.

A generic plan is one plan for every value, chosen from average statistics.
Written the obvious way (``task_id = $1 … ORDER BY id``), the plan for a
month where one task holds most rows scans that month's primary key in id
order and filters, and a small task's page reads the whole month (~22 ms
instead of ~0.2 ms next to 200,000 rows of another task, measured). So the
stream's own column is given as a range of one value and leads the order
(``task_id >= $1 AND task_id <= $1 … ORDER BY task_id, id``,
:func:`_stream_key`): only the ``(task_id, id)``, ``(run_id, id)`` or, for the
customer's whole stream, ``(customer_id, id)`` index (migration 0011) yields
that order without sorting the whole stream, and it is the right index for
every task or tenant, big or small. Same rows, same order: the column holds
one value. A plain ``events`` (SQLite) keeps the plain form and PostgreSQL's
own choice.

**Where.** The Store's own ``events.list`` runs on its paging pool when it has
one (:mod:`flightlog.db.paging_pool`): connections opened planning generically,
so no ``SET LOCAL`` round trip per page. Elsewhere (a caller's transaction, the
live stream's page sharing its watermark's transaction) the mode is set for the
page as below.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import InstrumentedAttribute, Session

from flightlog.db.engine import GENERIC_PLANS
from flightlog.db.partitions import is_partitioned
from flightlog.enums import EventSeverity, EventType
from flightlog.errors import ValidationError
from flightlog.models import Event
from flightlog.services._common import require, whole_unit
from flightlog.services.ownership import assert_owned

MAX_PAGE_SIZE = 1000
#: Event ids are BIGINT identities.
MAX_EVENT_ID = 2**63 - 1


@dataclass(frozen=True)
class EventPage:
    """One page of events and the cursor for the next (None when this was the last), and
    for the one before (``previous_before_id``, None on the first)."""

    items: list[Event]
    next_after_id: int | None
    previous_before_id: int | None = None


def _members(enum_cls: Any, values: Iterable[Any], what: str) -> list[Any]:
    """Filter values as enum members, accepting any spelling the enum accepts."""
    try:
        return [enum_cls(value) for value in values]
    except ValueError:
        raise ValidationError(
            f"unknown {what} in {list(values)!r}; expected some of {', '.join(enum_cls)}"
        ) from None


@contextmanager
def _generic_plans(session: Session, *, alone: bool) -> Iterator[None]:
    """The statements run inside use PostgreSQL's generic plan for their prepared statement
    (for a partitioned ``events``: the caller has checked).

    The mode is set for the transaction (``set_config(…, true)``, as ``SET
    LOCAL``), so it is put back afterwards to what it was, the caller's own
    setting included: whatever else the caller's transaction runs keeps its
    choice between custom and generic plans. Not when the page is ``alone`` in
    a transaction of its own (a Store call, ``whole_unit``), which ends next: then
    one ``SET LOCAL``, against the ~1-2 ms of planning over every partition it
    saves. A savepoint on an embedder's connection is not one.

    Only with asyncpg, which keeps its prepared statements for the connection's
    life: psycopg forgets its own at every ROLLBACK, which ends each read, so a
    plan there is made per statement whatever the mode. The caller does not enter
    this on a connection of the paging pool (:mod:`flightlog.db.paging_pool`), opened
    in that mode: there the statement would cost a round trip and save nothing.
    """
    connection = session.connection()
    if connection.dialect.driver != "asyncpg":
        yield
        return
    if alone and not connection.in_nested_transaction():
        # The transaction ends after the page, and with it the setting.
        connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
        yield
        return
    previous = connection.execute(_FORCE_GENERIC).scalar_one()
    yield
    # Not in a ``finally``: a database error has aborted the transaction, which runs
    # nothing more until it rolls back (and that puts the mode back); this would only
    # hide the error. Anything else that escapes (a cancellation) leaves the mode set
    # until the caller's transaction ends.
    connection.execute(_RESTORE, {"mode": previous})


#: The mode a transaction had, read as the page's own is set (target lists are
#: evaluated in order), then set back.
_FORCE_GENERIC = text(
    "SELECT current_setting('plan_cache_mode'), "
    "set_config('plan_cache_mode', 'force_generic_plan', true)"
)
_RESTORE = text("SELECT set_config('plan_cache_mode', :mode, true)")


def _stream_key(
    customer_id: uuid.UUID, task_id: uuid.UUID | None, run_id: uuid.UUID | None
) -> tuple[InstrumentedAttribute[Any], uuid.UUID]:
    """The column a page on a partitioned ``events`` is ordered by before ``id``, and its
    one value: the narrowest stream named, the run's, else the task's, else the customer's.
    """
    if run_id is not None:
        return Event.run_id, run_id
    if task_id is not None:
        return Event.task_id, task_id
    return Event.customer_id, customer_id


def list_events(
    session: Session,
    customer_id: uuid.UUID,
    /,
    *,
    task_id: uuid.UUID | None = None,
    run_id: uuid.UUID | None = None,
    after_id: int = 0,
    before_id: int | None = None,
    limit: int = 100,
    event_types: Sequence[EventType] | None = None,
    severities: Sequence[EventSeverity] | None = None,
    agent_role: str | None = None,
    up_to_id: int | None = None,
) -> EventPage:
    """A page of the customer's events in strict id order, after the cursor ``after_id``.

    Without a ``task_id`` or ``run_id``, all of the customer's events. A task
    or run of another customer is :class:`NotFound`. The page query is
    already confined to the customer, so a page with rows proves the task or
    run is theirs; only an empty page pays for the check that tells "no
    events (yet)" from "not yours". ``up_to_id`` stops the page there (a live
    feed's watermark, see ``event_feed``). ``before_id`` reads the other way: the
    ``limit`` events just before it (still in id order), for a page's
    ``previous_before_id``; without ``after_id``.
    """
    page = event_page(
        session,
        customer_id,
        task_id=task_id,
        run_id=run_id,
        after_id=after_id,
        before_id=before_id,
        limit=limit,
        event_types=event_types,
        severities=severities,
        agent_role=agent_role,
        up_to_id=up_to_id,
    )
    if not page.items:
        assert_owned(session, customer_id, task_ids=[task_id], run_ids=[run_id])
    return page


def event_page(
    session: Session,
    customer_id: uuid.UUID,
    /,
    *,
    task_id: uuid.UUID | None = None,
    run_id: uuid.UUID | None = None,
    after_id: int = 0,
    before_id: int | None = None,
    limit: int = 100,
    event_types: Sequence[EventType] | None = None,
    severities: Sequence[EventSeverity] | None = None,
    agent_role: str | None = None,
    up_to_id: int | None = None,
) -> EventPage:
    """A page of the customer's events in id order, without the ownership check
    (:func:`list_events` has it): another customer's task reads as empty.

    For a reader that made the check once and then polls (the live stream).
    ``up_to_id`` stops the page there (a live feed's watermark, see
    ``event_feed``). ``before_id`` reads the other way: the ``limit`` events
    just before it (still in id order), for a page's ``previous_before_id``;
    without ``after_id``.
    """
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationError(f"limit must be between 1 and {MAX_PAGE_SIZE}, got {limit}")
    if not 0 <= after_id <= MAX_EVENT_ID:
        raise ValidationError(f"after_id must be between 0 and {MAX_EVENT_ID}, got {after_id}")
    require(
        before_id is None or after_id == 0,
        "give after_id (read on) or before_id (read back), not both",
    )
    require(
        before_id is None or 1 <= before_id <= MAX_EVENT_ID,
        f"before_id must be between 1 and {MAX_EVENT_ID}, got {before_id}",
    )
    connection = session.connection()
    partitioned = is_partitioned(connection, "events")
    # A paging pool's connections plan generically already (flightlog.db.paging_pool);
    # a page of a partitioned table elsewhere asks for it (_generic_plans). Either way
    # the statement is planned generically, whatever the table: its form must suit.
    planned_generically = bool(connection.get_execution_options().get(GENERIC_PLANS))
    ask = partitioned and not planned_generically
    generic = partitioned or planned_generically
    key = _stream_key(customer_id, task_id, run_id) if generic else None
    stmt = select(Event).where(Event.id > after_id)
    if up_to_id is not None:
        stmt = stmt.where(Event.id <= up_to_id)
    scope = ((Event.task_id, task_id), (Event.run_id, run_id), (Event.customer_id, customer_id))
    for column, value in scope:
        if value is None:
            continue
        if key is not None and column is key[0]:
            stmt = stmt.where(column >= value, column <= value)  # see the module's docstring
        else:
            stmt = stmt.where(column == value)
    if event_types:
        stmt = stmt.where(Event.event_type.in_(_members(EventType, event_types, "event type")))
    if severities:
        stmt = stmt.where(Event.severity.in_(_members(EventSeverity, severities, "severity")))
    if agent_role is not None:
        stmt = stmt.where(Event.agent_role == agent_role)
    order = (Event.id,) if key is None else (key[0], Event.id)
    # list_events's ownership check after an empty page looks rows up by primary key,
    # which a generic plan serves as well. A plain ``events`` keeps PostgreSQL's choice.
    alone = whole_unit(session, event_page, list_events)
    with _generic_plans(session, alone=alone) if ask else nullcontext():
        if before_id is not None:
            # Newest first below the cursor, then turned: the page just before it, in id order.
            earlier = stmt.where(Event.id < before_id).order_by(*(c.desc() for c in order))
            back = session.scalars(earlier.limit(limit + 1)).all()
            items = list(reversed(back[:limit]))
            newer = stmt.where(Event.id >= before_id).order_by(*order).limit(1)
            later = session.scalar(newer.with_only_columns(Event.id))
            return EventPage(
                items=items,
                next_after_id=items[-1].id if items and later is not None else None,
                previous_before_id=items[0].id if len(back) > limit else None,
            )
        rows = list((session.scalars(stmt.order_by(*order).limit(limit + 1))).all())
    has_more = len(rows) > limit
    items = rows[:limit]
    return EventPage(
        items=items,
        next_after_id=items[-1].id if has_more and items else None,
        previous_before_id=items[0].id if after_id > 0 and items else None,
    )

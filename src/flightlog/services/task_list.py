"""The task list's SQL: filters, sort orders, keyset pages in both directions, totals.

:func:`flightlog.services.tasks.list_tasks` declares the operation; this module
builds what it runs, so the declaration stays readable and ``tasks.py`` small.

Every order ends with the task id in the same direction, so it is total and a
page boundary is one row: the page after a cursor task holds the rows that sort
strictly after it, the page before it those strictly before. A cursor is a task
id (the last or first of the page a reader holds); for any order but creation
order its sort value is read back from the task, so a cursor stays an id on the
wire. Orders read the same on SQLite and PostgreSQL: titles compare by their
lowercased text under the C collation (code point order; PostgreSQL's default
collation would otherwise sort by the server's locale), and statuses by their
place in the lifecycle, not alphabetically.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import Select, and_, case, exists, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from flightlog.enums import TaskStatus
from flightlog.errors import ValidationError
from flightlog.models import AgentRun, Task, TaskRun
from flightlog.services._common import member, require, time_in_range
from flightlog.services._dialect import dialect_name, json_array_contains
from flightlog.services.json_match import json_array_has, json_contains, json_has_keys

#: How the task list may be ordered: by creation (the id, UUIDv7), last change, title,
#: lifecycle status or priority.
TaskSort = Literal["created", "updated", "title", "status", "priority"]
SORTS: tuple[str, ...] = get_args(TaskSort)
#: The largest value an INTEGER column holds on PostgreSQL.
MAX_INT = 2**31 - 1
#: The most tasks one call answers (a page of the list, the ready queue).
MAX_PAGE_SIZE = 500

#: The statuses in lifecycle order: waiting, working, then the ways a task ends.
STATUS_ORDER = (
    TaskStatus.PENDING,
    TaskStatus.RUNNING,
    TaskStatus.COMPLETED,
    TaskStatus.FAILED,
    TaskStatus.TIMEOUT,
    TaskStatus.CANCELLED,
)


def check_time(value: datetime | None, name: str) -> None:
    """A time bound must be aware: a naive one would be read in an unknown zone."""
    if value is None:
        return
    require(
        isinstance(value, datetime) and value.tzinfo is not None and time_in_range(value),
        f"{name} must be a timezone-aware time between 1000-01-01 and 9000-01-01 UTC",
    )


def agent_worked_on(agent_id: uuid.UUID) -> ColumnElement[bool]:
    """The task is assigned to the agent, or the agent ran it or took a step in a run of it."""
    return or_(
        Task.assigned_agent_id == agent_id,
        exists().where(TaskRun.task_id == Task.id, TaskRun.agent_id == agent_id),
        exists().where(AgentRun.task_id == Task.id, AgentRun.agent_id == agent_id),
    )


def filters(
    session: Session,
    *,
    status: TaskStatus | Sequence[TaskStatus] | None,
    project_id: uuid.UUID | None,
    tag: str | None,
    priority: int | None,
    min_priority: int | None,
    parent_task_id: uuid.UUID | None,
    top_level_only: bool,
    agent_id: uuid.UUID | None,
    created: tuple[datetime | None, datetime | None],
    updated: tuple[datetime | None, datetime | None],
    requirements_contains: Mapping[str, Any] | None = None,
    context_has: str | Sequence[str] | None = None,
    tags_any: str | Sequence[str] | None = None,
    tags_all: str | Sequence[str] | None = None,
) -> list[ColumnElement[bool]]:
    """The WHERE conditions of the list's filters (ownership of the ids is checked before).

    The JSON filters mean what PostgreSQL's ``@>``, ``?&``, ``?|`` mean, on both dialects
    (:mod:`flightlog.services.json_match`); on PostgreSQL the GIN indexes serve them.
    """
    for name, value in (("priority", priority), ("min_priority", min_priority)):
        require(
            value is None or -MAX_INT <= value <= MAX_INT,
            f"{name} must be between {-MAX_INT} and {MAX_INT}",
        )
    conditions: list[ColumnElement[bool]] = []
    if status is not None:
        statuses = [status] if isinstance(status, TaskStatus | str) else list(status)
        conditions.append(Task.status.in_([member(TaskStatus, s, "status") for s in statuses]))
    if project_id is not None:
        conditions.append(Task.project_id == project_id)
    if tag is not None:
        conditions.append(json_array_contains(session, Task.tags, tag))
    if priority is not None:
        conditions.append(Task.priority == priority)
    if min_priority is not None:
        conditions.append(Task.priority >= min_priority)
    if parent_task_id is not None:
        conditions.append(Task.parent_task_id == parent_task_id)
    if top_level_only:
        conditions.append(Task.parent_task_id.is_(None))
    if agent_id is not None:
        conditions.append(agent_worked_on(agent_id))
    if requirements_contains is not None:
        conditions.append(
            json_contains(
                session, Task.requirements, requirements_contains, "requirements_contains"
            )
        )
    if context_has is not None:
        conditions.append(json_has_keys(session, Task.context, context_has, "context_has"))
    for name, values, every in (("tags_any", tags_any, False), ("tags_all", tags_all, True)):
        if values is not None:
            conditions.append(json_array_has(session, Task.tags, values, name, every=every))
    for column, (since, until), name in (
        (Task.created_at, created, "created"),
        (Task.updated_at, updated, "updated"),
    ):
        check_time(since, f"{name}_since")
        check_time(until, f"{name}_until")
        if since is not None:
            conditions.append(column >= since)
        if until is not None:
            conditions.append(column < until)
    return conditions


def sort_key(session: Session, sort: str) -> ColumnElement[Any] | None:
    """The value a sort orders by before the id; None for creation order (the id alone)."""
    require(sort in SORTS, f"sort must be one of {', '.join(SORTS)}, got {sort!r}")
    if sort == "updated":
        return Task.updated_at.expression
    if sort == "priority":
        return Task.priority.expression
    if sort == "status":
        return case(
            {status.value: rank for rank, status in enumerate(STATUS_ORDER)}, value=Task.status
        )
    if sort == "title":
        title = Task.title.collate("C") if dialect_name(session) == "postgresql" else Task.title
        return func.lower(title)
    return None


def _beyond(
    key: ColumnElement[Any] | None, value: Any, task_id: uuid.UUID, descending: bool
) -> ColumnElement[bool]:
    """Rows that sort strictly after ``(value, task_id)`` in this direction."""
    if key is None:
        return Task.id < task_id if descending else Task.id > task_id
    if descending:
        return or_(key < value, and_(key == value, Task.id < task_id))
    return or_(key > value, and_(key == value, Task.id > task_id))


def _ordered(stmt: Select[Any], key: ColumnElement[Any] | None, descending: bool) -> Select[Any]:
    columns = [Task.id] if key is None else [key, Task.id]
    return stmt.order_by(*(c.desc() if descending else c.asc() for c in columns))


def _value_at(
    session: Session,
    customer_id: uuid.UUID,
    key: ColumnElement[Any] | None,
    task_id: uuid.UUID,
    name: str,
) -> Any:
    """The sort value of the cursor task (none is needed for creation order)."""
    if key is None:
        return None
    row = session.execute(
        select(key).where(Task.id == task_id, Task.customer_id == customer_id)
    ).first()
    if row is None:
        raise ValidationError(
            f"{name} {task_id} is none of your tasks (deleted since?): start from the first page"
        )
    return row[0]


class Window:
    """One page of the filtered, sorted tasks, and where it lies among all of them."""

    def __init__(
        self,
        session: Session,
        customer_id: uuid.UUID,
        conditions: Sequence[ColumnElement[bool]],
        *,
        sort: str,
        descending: bool,
    ) -> None:
        self.session = session
        self.customer_id = customer_id
        self.conditions = [Task.customer_id == customer_id, *conditions]
        self.key = sort_key(session, sort)
        self.descending = descending

    def _rows(
        self, direction_descending: bool, cursor: uuid.UUID | None, name: str, limit: int
    ) -> list[tuple[Task, Any]]:
        columns: list[Any] = [Task] if self.key is None else [Task, self.key]
        stmt = select(*columns).where(*self.conditions)
        if cursor is not None:
            value = _value_at(self.session, self.customer_id, self.key, cursor, name)
            stmt = stmt.where(_beyond(self.key, value, cursor, direction_descending))
        stmt = _ordered(stmt, self.key, direction_descending).limit(limit + 1)
        return [
            (row[0], row[1] if self.key is not None else None)
            for row in self.session.execute(stmt).all()
        ]

    def read(
        self, *, cursor: uuid.UUID | None, before: uuid.UUID | None, limit: int, total: bool
    ) -> dict[str, Any]:
        """The page after ``cursor`` or before ``before`` (else the first), as ``TaskPage``'s
        fields: its tasks, the cursors around it and, with ``total``, the counts."""
        require(cursor is None or before is None, "give cursor (read on) or before (read back)")
        if before is not None:
            rows = self._rows(not self.descending, before, "before", limit)
            page = list(reversed(rows[:limit]))
            more_after, more_before = True, len(rows) > limit
        else:
            rows = self._rows(self.descending, cursor, "cursor", limit)
            page = rows[:limit]
            more_after, more_before = len(rows) > limit, cursor is not None
        items = [task for task, _ in page]
        fields: dict[str, Any] = {
            "items": items,
            "next_cursor": items[-1].id if items and more_after else None,
            "previous_cursor": items[0].id if items and more_before else None,
        }
        if total:
            fields["total"] = self.total()
            past_the_end = 0 if cursor is None else fields["total"]
            fields["offset"] = self.preceding(page[0]) if page else past_the_end
        return fields

    def total(self) -> int:
        """How many tasks match the filters."""
        return int(self.session.scalar(select(func.count(Task.id)).where(*self.conditions)) or 0)

    def preceding(self, first: tuple[Task, Any]) -> int:
        """How many matching tasks sort before ``first``."""
        task, value = first
        stmt = select(func.count(Task.id)).where(
            *self.conditions, _beyond(self.key, value, task.id, not self.descending)
        )
        return int(self.session.scalar(stmt) or 0)


__all__ = [
    "MAX_INT",
    "SORTS",
    "STATUS_ORDER",
    "TaskSort",
    "Window",
    "agent_worked_on",
    "check_time",
    "filters",
    "sort_key",
]

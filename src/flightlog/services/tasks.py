"""Tasks: create, update, read, list and subtasks.

Dependencies between tasks and the ready queue they decide are
:mod:`flightlog.services.task_dependencies`'s, re-exported here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from flightlog.enums import AgentType, TaskStatus
from flightlog.errors import ValidationError
from flightlog.models import Agent, Project, Task
from flightlog.services import events
from flightlog.services._common import (
    UNSET,
    Unset,
    get_or_raise,
    given,
    require,
)
from flightlog.services.chosen_ids import chosen_id
from flightlog.services.json_shapes import check_execution_context, check_requirements
from flightlog.services.lifecycle import TASK_LIFECYCLE, move
from flightlog.services.task_dependencies import (
    add_dependency,
    dependencies,
    ready_tasks,
    remove_dependency,
    unmet_dependency,
)
from flightlog.services.task_list import MAX_INT, MAX_PAGE_SIZE, TaskSort, Window, filters


@dataclass(frozen=True)
class TaskPage:
    """A page of tasks in the order asked for, with the cursors to the pages around it.

    ``next_cursor`` (pass as ``cursor``) is None on the last page,
    ``previous_cursor`` (pass as ``before``) None on the first. ``total`` (every
    matching task) and ``offset`` (how many of them come before this page) are
    counted only when asked for, so a page reads "41-60 of 213".
    """

    items: list[Task]
    next_cursor: uuid.UUID | None
    previous_cursor: uuid.UUID | None = None
    total: int | None = None
    offset: int | None = None


def _validate_fields(fields: dict[str, Any]) -> None:
    if "title" in fields:
        title = fields["title"]
        require(
            isinstance(title, str) and 0 < len(title.strip()) <= 500,
            "title must be 1 to 500 characters",
        )
    for name in ("max_rounds", "memory_size"):
        if name in fields:
            require(
                isinstance(fields[name], int) and 1 <= fields[name] <= MAX_INT,
                f"{name} must be between 1 and {MAX_INT:,}",
            )
    if "priority" in fields:
        require(
            isinstance(fields["priority"], int) and -MAX_INT <= fields["priority"] <= MAX_INT,
            f"priority must be an integer between {-MAX_INT:,} and {MAX_INT:,}",
        )
    if "tags" in fields:
        tags = fields["tags"]
        require(
            isinstance(tags, list) and all(isinstance(t, str) for t in tags),
            "tags must be a list of strings",
        )
    for name in ("config", "requirements", "context"):
        if name in fields:
            require(isinstance(fields[name], dict), f"{name} must be a JSON object")
    if "requirements" in fields:
        check_requirements(fields["requirements"])
    if "context" in fields:
        check_execution_context(fields["context"])
    if fields.get("assigned_agent_type") is not None:
        try:
            fields["assigned_agent_type"] = AgentType(fields["assigned_agent_type"])
        except ValueError:
            raise ValidationError(
                f"unknown agent type {fields['assigned_agent_type']!r}; "
                f"expected one of {', '.join(AgentType)}"
            ) from None


def _check_same_customer(
    session: Session,
    customer_id: uuid.UUID,
    *,
    project_id: Any,
    parent_task_id: Any,
    assigned_agent_id: Any = None,
) -> None:
    if assigned_agent_id is not None:
        get_or_raise(session, Agent, assigned_agent_id, customer_id=customer_id)
    if project_id is not None:
        get_or_raise(session, Project, project_id, customer_id=customer_id)
    if parent_task_id is not None:
        get_or_raise(session, Task, parent_task_id, customer_id=customer_id)


def create_task(
    session: Session,
    customer_id: uuid.UUID,
    /,
    *,
    title: str | None = None,
    input_prompt: str | None = None,
    description: str | Unset | None = UNSET,
    priority: int | Unset = UNSET,
    config: dict[str, Any] | Unset = UNSET,
    requirements: dict[str, Any] | Unset = UNSET,
    context: dict[str, Any] | Unset = UNSET,
    tags: list[str] | Unset = UNSET,
    max_rounds: int | Unset = UNSET,
    memory_size: int | Unset = UNSET,
    project_id: uuid.UUID | Unset | None = UNSET,
    parent_task_id: uuid.UUID | Unset | None = UNSET,
    assigned_agent_id: uuid.UUID | Unset | None = UNSET,
    assigned_agent_type: AgentType | str | Unset | None = UNSET,
    result_summary: str | Unset | None = UNSET,
    depends_on: Iterable[uuid.UUID] = (),
    actor: str | None = None,
    id: uuid.UUID | str | None = None,
) -> Task:
    """Create a PENDING task. Without a title, the first line of the prompt is used (seed 001).

    Fields left out take the model's defaults (priority 0, 5 rounds, memory
    size 50, empty config, requirements, context and tags). ``depends_on``
    adds dependency edges in the same transaction; ``actor`` is recorded on
    the task's first status event. ``id`` is for a caller moving existing data
    in (seed 001's ``str(uuid.uuid4())`` ids): :class:`Conflict` when taken.
    """
    if title is None and input_prompt:
        title = input_prompt.strip().splitlines()[0][:500] if input_prompt.strip() else None
    fields = given(
        title=title,
        description=description,
        priority=priority,
        config=config,
        requirements=requirements,
        context=context,
        tags=tags,
        max_rounds=max_rounds,
        memory_size=memory_size,
        project_id=project_id,
        parent_task_id=parent_task_id,
        assigned_agent_id=assigned_agent_id,
        assigned_agent_type=assigned_agent_type,
        result_summary=result_summary,
    )
    _validate_fields(fields)
    _check_same_customer(
        session,
        customer_id,
        project_id=fields.get("project_id"),
        parent_task_id=fields.get("parent_task_id"),
        assigned_agent_id=fields.get("assigned_agent_id"),
    )
    chosen = chosen_id(session, Task, id)
    task = Task(customer_id=customer_id, input_prompt=input_prompt, **fields)
    if chosen is not None:
        task.id = chosen
    session.add(task)
    session.flush()
    events.record_transition(
        session,
        entity=TASK_LIFECYCLE.entity,
        entity_id=task.id,
        from_status=None,
        to_status=TaskStatus.PENDING,
        customer_id=customer_id,
        task_id=task.id,
        actor=actor,
    )
    for dependency in depends_on:
        add_dependency(session, customer_id, task.id, dependency)
    session.flush()
    return task


def get_task(session: Session, customer_id: uuid.UUID, /, task_id: uuid.UUID) -> Task:
    """The task, or :class:`NotFound` (also for another customer's task)."""
    return get_or_raise(session, Task, task_id, customer_id=customer_id)


def update_task(
    session: Session,
    customer_id: uuid.UUID,
    /,
    task_id: uuid.UUID,
    *,
    title: str | Unset = UNSET,
    description: str | Unset | None = UNSET,
    input_prompt: str | Unset | None = UNSET,
    priority: int | Unset = UNSET,
    config: dict[str, Any] | Unset = UNSET,
    requirements: dict[str, Any] | Unset = UNSET,
    context: dict[str, Any] | Unset = UNSET,
    tags: list[str] | Unset = UNSET,
    max_rounds: int | Unset = UNSET,
    memory_size: int | Unset = UNSET,
    project_id: uuid.UUID | Unset | None = UNSET,
    assigned_agent_id: uuid.UUID | Unset | None = UNSET,
    assigned_agent_type: AgentType | str | Unset | None = UNSET,
    result_summary: str | Unset | None = UNSET,
) -> Task:
    """Change the fields given; the ones left out keep their values.

    Status and run statistics are not among them: status changes go through
    the lifecycle (runs, claims, cancel), statistics follow the runs.
    """
    changes = given(
        title=title,
        description=description,
        input_prompt=input_prompt,
        priority=priority,
        config=config,
        requirements=requirements,
        context=context,
        tags=tags,
        max_rounds=max_rounds,
        memory_size=memory_size,
        project_id=project_id,
        assigned_agent_id=assigned_agent_id,
        assigned_agent_type=assigned_agent_type,
        result_summary=result_summary,
    )
    _validate_fields(changes)
    task = get_task(session, customer_id, task_id)
    _check_same_customer(
        session,
        customer_id,
        project_id=changes.get("project_id"),
        parent_task_id=None,
        assigned_agent_id=changes.get("assigned_agent_id"),
    )
    for name, value in changes.items():
        setattr(task, name, value)
    session.flush()
    return task


def transition_task(
    session: Session,
    task: Task,
    target: TaskStatus,
    *,
    actor: str | None = None,
    reason: str | None = None,
    at: datetime | None = None,
) -> None:
    """Move a task through its lifecycle, stamp times (``at``, else now), and log the change."""
    move(
        session,
        TASK_LIFECYCLE,
        task,
        target,
        customer_id=task.customer_id,
        task_id=task.id,
        actor=actor,
        data={"reason": reason} if reason else None,
        at=at,
    )
    session.flush()


def list_tasks(
    session: Session,
    customer_id: uuid.UUID,
    /,
    *,
    status: TaskStatus | Sequence[TaskStatus] | None = None,
    project_id: uuid.UUID | None = None,
    tag: str | None = None,
    priority: int | None = None,
    min_priority: int | None = None,
    parent_task_id: uuid.UUID | None = None,
    top_level_only: bool = False,
    agent_id: uuid.UUID | None = None,
    requirements_contains: dict[str, Any] | None = None,
    context_has: str | Sequence[str] | None = None,
    tags_any: str | Sequence[str] | None = None,
    tags_all: str | Sequence[str] | None = None,
    created_since: datetime | None = None,
    created_until: datetime | None = None,
    updated_since: datetime | None = None,
    updated_until: datetime | None = None,
    sort: TaskSort = "created",
    descending: bool = True,
    cursor: uuid.UUID | None = None,
    before: uuid.UUID | None = None,
    total: bool = False,
    limit: int = 50,
) -> TaskPage:
    """Tasks newest first, or in the ``sort`` order asked for, a page at a time, both ways.

    ``sort`` is ``created`` (the id: ids are UUIDv7, so id order is creation
    order), ``updated``, ``title``, ``status`` (lifecycle order) or ``priority``;
    ``descending`` turns it (ties go by id, the same way). Pass a page's
    ``next_cursor`` as ``cursor`` for the page after it, its ``previous_cursor``
    as ``before`` for the page before it. ``agent_id``: tasks assigned to the
    agent, or that it ran or took a step in. The ``*_since`` bounds include
    their time, the ``*_until`` bounds exclude it. ``total=True`` also counts
    the matching tasks and the page's offset among them.

    Seed 004's JSON filters, with PostgreSQL's meaning on both dialects (and its GIN
    indexes there): ``requirements_contains`` (``requirements @> {...}``: nested objects
    and arrays contained, scalars type-exact), ``context_has`` (top-level keys of
    ``context``, all of them), ``tags_any`` / ``tags_all`` (any / all of these tags).

    A ``project_id``, ``parent_task_id`` or ``agent_id`` that is not the
    customer's is :class:`NotFound`, as for the event log, rather than an empty page.
    """
    require(1 <= limit <= MAX_PAGE_SIZE, f"limit must be between 1 and {MAX_PAGE_SIZE}")
    _check_same_customer(
        session,
        customer_id,
        project_id=project_id,
        parent_task_id=parent_task_id,
        assigned_agent_id=agent_id,
    )
    conditions = filters(
        session,
        status=status,
        project_id=project_id,
        tag=tag,
        priority=priority,
        min_priority=min_priority,
        parent_task_id=parent_task_id,
        top_level_only=top_level_only,
        agent_id=agent_id,
        created=(created_since, created_until),
        updated=(updated_since, updated_until),
        requirements_contains=requirements_contains,
        context_has=context_has,
        tags_any=tags_any,
        tags_all=tags_all,
    )
    window = Window(session, customer_id, conditions, sort=sort, descending=descending)
    return TaskPage(**window.read(cursor=cursor, before=before, limit=limit, total=total))


def subtasks(session: Session, customer_id: uuid.UUID, /, task_id: uuid.UUID) -> list[Task]:
    """Direct children of a task, oldest first."""
    get_task(session, customer_id, task_id)
    stmt = select(Task).where(Task.parent_task_id == task_id).order_by(Task.id)
    return list((session.scalars(stmt)).all())


__all__ = [
    "MAX_PAGE_SIZE",
    "TaskPage",
    "TaskSort",
    "add_dependency",
    "create_task",
    "dependencies",
    "get_task",
    "list_tasks",
    "ready_tasks",
    "remove_dependency",
    "subtasks",
    "transition_task",
    "unmet_dependency",
    "update_task",
]

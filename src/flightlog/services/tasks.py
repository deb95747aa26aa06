"""Tasks: create, update, read, list, subtasks, dependencies and the ready queue."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from flightlog.enums import AgentType, TaskStatus
from flightlog.errors import Conflict, ValidationError
from flightlog.models import Agent, Project, Task, TaskDependency
from flightlog.services import events
from flightlog.services._common import (
    UNSET,
    Unset,
    get_or_raise,
    given,
    is_dependency_cycle,
    require,
)
from flightlog.services._dialect import equals_constant, lock_for_customer
from flightlog.services.chosen_ids import chosen_id
from flightlog.services.json_shapes import check_execution_context, check_requirements
from flightlog.services.lifecycle import TASK_LIFECYCLE, move
from flightlog.services.task_list import MAX_INT, TaskSort, Window, filters

MAX_PAGE_SIZE = 500


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


def _reaches(session: Session, start: uuid.UUID, goal: uuid.UUID) -> bool:
    """Whether ``goal`` is reachable from ``start`` along depends-on edges."""
    edge = aliased(TaskDependency)
    reachable = select(TaskDependency.depends_on_id.label("node")).where(
        TaskDependency.task_id == start
    )
    walk = reachable.cte("reachable", recursive=True)
    walk = walk.union(select(edge.depends_on_id).where(edge.task_id == walk.c.node))
    found = session.scalar(select(exists().where(walk.c.node == goal)))
    return bool(found)


def add_dependency(
    session: Session, customer_id: uuid.UUID, /, task_id: uuid.UUID, depends_on: uuid.UUID
) -> TaskDependency:
    """Make ``task_id`` wait for ``depends_on``; refuse any edge that closes a cycle."""
    depends_on_id = depends_on
    if task_id == depends_on_id:
        raise ValidationError("a task cannot depend on itself")
    get_task(session, customer_id, task_id)
    get_task(session, customer_id, depends_on_id)
    # Two concurrent edges could each pass the check and together form a cycle.
    lock_for_customer(session, "task-dependencies", customer_id)
    if session.get(TaskDependency, (task_id, depends_on_id)) is not None:
        raise Conflict(f"task {task_id} already depends on {depends_on_id}")
    if _reaches(session, depends_on_id, task_id):
        raise _cycle_error(task_id, depends_on_id)
    edge = TaskDependency(task_id=task_id, depends_on_id=depends_on_id)
    session.add(edge)
    try:
        session.flush()
    except IntegrityError as exc:
        # The database's own trigger (migration 0009) saw a cycle the check above missed.
        if is_dependency_cycle(exc):
            raise _cycle_error(task_id, depends_on_id) from exc
        raise
    return edge


def _cycle_error(task_id: uuid.UUID, depends_on_id: uuid.UUID) -> ValidationError:
    return ValidationError(
        f"dependency {task_id} -> {depends_on_id} would create a cycle",
        task_id=str(task_id),
        depends_on_id=str(depends_on_id),
    )


def remove_dependency(
    session: Session, customer_id: uuid.UUID, /, task_id: uuid.UUID, depends_on: uuid.UUID
) -> None:
    """Drop an edge; :class:`NotFound` if it does not exist."""
    get_task(session, customer_id, task_id)
    edge = get_or_raise(session, TaskDependency, (task_id, depends_on))
    session.delete(edge)
    session.flush()


def dependencies(session: Session, customer_id: uuid.UUID, /, task_id: uuid.UUID) -> list[Task]:
    """The tasks this one waits for."""
    get_task(session, customer_id, task_id)
    stmt = (
        select(Task)
        .join(TaskDependency, TaskDependency.depends_on_id == Task.id)
        .where(TaskDependency.task_id == task_id)
        .order_by(Task.id)
    )
    return list((session.scalars(stmt)).all())


def unmet_dependency() -> Any:
    """SQL: the task has a dependency that has not completed."""
    dep = aliased(Task)
    return exists(
        select(literal(1))
        .select_from(TaskDependency)
        .join(dep, dep.id == TaskDependency.depends_on_id)
        .where(and_(TaskDependency.task_id == Task.id, dep.status != TaskStatus.COMPLETED.value))
    )


def ready_tasks(session: Session, customer_id: uuid.UUID, /, limit: int = 100) -> list[Task]:
    """PENDING tasks whose every dependency has completed, highest priority first."""
    require(1 <= limit <= MAX_PAGE_SIZE, f"limit must be between 1 and {MAX_PAGE_SIZE}")
    stmt = (
        select(Task)
        .where(Task.customer_id == customer_id, equals_constant(Task.status, TaskStatus.PENDING))
        .where(~unmet_dependency())
        .order_by(Task.priority.desc(), Task.id)
        .limit(limit)
    )
    return list((session.scalars(stmt)).all())


__all__ = [
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
    "update_task",
]

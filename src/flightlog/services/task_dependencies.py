"""Dependencies between a customer's tasks, and the ready queue they decide.

A task waits for the tasks it depends on; it is ready when it is PENDING and
every one of them has COMPLETED. Edges never close a cycle: the service
refuses one with a :class:`ValidationError` naming the edge (the customer's
edges are written one at a time, so two concurrent ones cannot close a cycle
together), and the database's own trigger (migration 0009) refuses one written
any other way, raw SQL included.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, exists, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from flightlog.enums import TaskStatus
from flightlog.errors import Conflict, ValidationError
from flightlog.models import Task, TaskDependency
from flightlog.services._common import get_or_raise, is_dependency_cycle, require
from flightlog.services._dialect import equals_constant, lock_for_customer
from flightlog.services.task_list import MAX_PAGE_SIZE


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
    get_or_raise(session, Task, task_id, customer_id=customer_id)
    get_or_raise(session, Task, depends_on_id, customer_id=customer_id)
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
    get_or_raise(session, Task, task_id, customer_id=customer_id)
    edge = get_or_raise(session, TaskDependency, (task_id, depends_on))
    session.delete(edge)
    session.flush()


def dependencies(session: Session, customer_id: uuid.UUID, /, task_id: uuid.UUID) -> list[Task]:
    """The tasks this one waits for."""
    get_or_raise(session, Task, task_id, customer_id=customer_id)
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

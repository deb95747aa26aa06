"""The runs' shared primitives: the task-then-run lock, run numbers, the queued run, and
the one place a run's status changes.

Lock order is always task row, then run row. Every function that changes a
run first locks its task (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's
``BEGIN IMMEDIATE`` already serialises writers), which is what makes run
numbers unique and gap-free and keeps the task's statistics exact when many
runs start or finish at once.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flightlog.enums import RunStatus, TaskStatus
from flightlog.errors import NotFound
from flightlog.models import Task, TaskRun
from flightlog.services._common import get_owned, not_found
from flightlog.services._dialect import equals_constant
from flightlog.services.lifecycle import RUN_LIFECYCLE, move

#: The task's status when its last going run ends with the run's status.
FINISHED_RUN_TO_TASK = {
    RunStatus.COMPLETED: TaskStatus.COMPLETED,
    RunStatus.FAILED: TaskStatus.FAILED,
    RunStatus.TIMEOUT: TaskStatus.TIMEOUT,
}


def lock_task(
    session: Session, task_id: uuid.UUID, customer_id: uuid.UUID, *, to_delete: bool = False
) -> Task:
    """The customer's task, locked and freshly read; another tenant's task is never locked.

    ``FOR NO KEY UPDATE`` (PostgreSQL): writers of its runs, statuses and statistics
    take turns, as OTLP span ingest's run numbering does (decision 0024), while
    rows that merely refer to the task (their foreign-key checks take ``KEY
    SHARE``) go on, so a steady stream of span requests for the task, each holding
    it ``FOR KEY SHARE``, cannot keep a run from starting. ``to_delete`` takes
    ``FOR UPDATE``, which waits for those too.
    """
    return get_owned(
        session, Task, task_id, customer_id=customer_id, for_update=True, no_key=not to_delete
    )


def next_run_number(session: Session, task_id: uuid.UUID) -> int:
    """The number the task's next run gets; gap-free because the caller holds the task lock."""
    last = session.scalar(
        select(func.coalesce(func.max(TaskRun.run_number), 0)).where(TaskRun.task_id == task_id)
    )
    return int(last or 0) + 1


def queued_run(session: Session, task_id: uuid.UUID) -> TaskRun | None:
    """The task's queued (PENDING) run, if it has one; a task has at most one."""
    stmt = select(TaskRun).where(
        TaskRun.task_id == task_id, equals_constant(TaskRun.status, RunStatus.PENDING)
    )
    found: TaskRun | None = session.scalar(stmt.order_by(TaskRun.run_number).limit(1))
    return found


def lock_run(session: Session, run_id: uuid.UUID, customer_id: uuid.UUID) -> tuple[Task, TaskRun]:
    """Lock the run's task, then the run, and return both freshly read.

    Whatever goes wrong, :class:`NotFound` names the run asked for, never its task.
    """
    run = get_owned(session, TaskRun, run_id, customer_id=customer_id)
    try:
        task = lock_task(session, run.task_id, customer_id)
    except NotFound:  # deleted with its task since the read above
        raise not_found(TaskRun, run_id) from None
    locked = session.get(TaskRun, run_id, with_for_update=True, populate_existing=True)
    if locked is None:
        raise not_found(TaskRun, run_id)
    return task, locked


def set_run_status(
    session: Session,
    task: Task,
    run: TaskRun,
    target: RunStatus,
    *,
    actor: str | None,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """The one place a run's status changes (with its timestamps and audit event)."""
    move(
        session,
        RUN_LIFECYCLE,
        run,
        target,
        customer_id=task.customer_id,
        task_id=task.id,
        run_id=run.id,
        actor=actor,
        data=data,
        at=at,
    )

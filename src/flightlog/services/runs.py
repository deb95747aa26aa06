"""Task runs: start one with a gap-free run number, read them; the rest re-exported.

A run's plan approval is :mod:`flightlog.services.run_plans`'s, ending it
(and cancelling its task) :mod:`flightlog.services.run_endings`'s, and the
task-then-run lock they all take :mod:`flightlog.services.run_locks`'s; their
operations are importable from here as well.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from flightlog.enums import AgentType, ApprovalStatus, RunStatus, TaskStatus
from flightlog.errors import Conflict, ValidationError
from flightlog.models import Task, TaskRun
from flightlog.services._common import get_owned, measured_time, member, utc_now
from flightlog.services.chosen_ids import chosen_id
from flightlog.services.json_shapes import check_execution_context
from flightlog.services.ownership import assert_owned
from flightlog.services.run_endings import (
    cancel_run,
    cancel_task,
    fail_run,
    finish_run,
    timeout_run,
)
from flightlog.services.run_locks import (
    FINISHED_RUN_TO_TASK,
    lock_run,
    lock_task,
    next_run_number,
    queued_run,
    set_run_status,
)
from flightlog.services.run_plans import approve_plan, decide_plan, reject_plan, submit_plan
from flightlog.services.task_statistics import refresh_task_statistics
from flightlog.services.tasks import transition_task


def start_run(
    session: Session,
    customer_id: uuid.UUID,
    /,
    task_id: uuid.UUID,
    *,
    plan: dict[str, Any] | None = None,
    await_plan_approval: bool = False,
    input_context: dict[str, Any] | None = None,
    agent_id: uuid.UUID | None = None,
    agent_type: AgentType | str | None = None,
    git_branch: str | None = None,
    actor: str | None = None,
    started_at: datetime | None = None,
    id: uuid.UUID | str | None = None,
) -> TaskRun:
    """Start the next run of a task: RUNNING, or WAITING_APPROVAL when its plan needs approval.

    ``started_at`` is for a caller that measured the start itself (a tracer
    sending after the fact, a replay); it must be timezone-aware. ``id`` is for
    one moving existing data in (:class:`Conflict` when it is taken).
    """
    at = measured_time(started_at, "started_at") if started_at is not None else None
    if input_context is not None:
        check_execution_context(input_context, "input_context")
    if await_plan_approval and plan is None:
        raise ValidationError("a run that awaits plan approval needs a plan")
    task = lock_task(session, task_id, customer_id)
    assert_owned(session, customer_id, agent_ids=[agent_id])
    chosen = chosen_id(session, TaskRun, id)
    queued = queued_run(session, task_id)
    if queued is not None:
        raise Conflict(
            f"run #{queued.run_number} of this task is queued; begin that run instead",
            run_id=str(queued.id),
        )
    if task.status is not TaskStatus.RUNNING:
        transition_task(session, task, TaskStatus.RUNNING, actor=actor, at=at)
    run = TaskRun(
        task_id=task_id,
        run_number=next_run_number(session, task_id),
        status=RunStatus.PENDING,
        plan=plan,
        plan_status=ApprovalStatus.PENDING if await_plan_approval else None,
        input_context=input_context or {},
        agent_id=agent_id,
        agent_type=member(AgentType, agent_type, "agent_type") if agent_type is not None else None,
        git_branch=git_branch,
        started_at=at or utc_now(),
    )
    if chosen is not None:
        run.id = chosen
    session.add(run)
    session.flush()
    target = RunStatus.WAITING_APPROVAL if await_plan_approval else RunStatus.RUNNING
    set_run_status(session, task, run, target, actor=actor, at=at)
    session.flush()
    refresh_task_statistics(session, task_id)
    return run


def get_run(session: Session, customer_id: uuid.UUID, /, run_id: uuid.UUID) -> TaskRun:
    """The run, or :class:`NotFound` (also when it belongs to another customer)."""
    return get_owned(session, TaskRun, run_id, customer_id=customer_id)


def list_runs(session: Session, customer_id: uuid.UUID, /, task_id: uuid.UUID) -> list[TaskRun]:
    """A task's runs in run-number order."""
    get_owned(session, Task, task_id, customer_id=customer_id)
    stmt = select(TaskRun).where(TaskRun.task_id == task_id).order_by(TaskRun.run_number)
    return list((session.scalars(stmt)).all())


__all__ = [
    "FINISHED_RUN_TO_TASK",
    "approve_plan",
    "cancel_run",
    "cancel_task",
    "decide_plan",
    "fail_run",
    "finish_run",
    "get_run",
    "list_runs",
    "lock_run",
    "lock_task",
    "next_run_number",
    "queued_run",
    "reject_plan",
    "set_run_status",
    "start_run",
    "submit_plan",
    "timeout_run",
]

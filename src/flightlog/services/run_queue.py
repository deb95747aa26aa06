"""Queued runs (seed 004's ``execution_status = 'queued'``): schedule a run now, begin it later.

A queued run is a :class:`TaskRun` in ``PENDING``: it already has its run
number, input, intended agent and plan, but no start time. A task has at
most one queued run; its task waits in ``PENDING``, so a worker's
:func:`flightlog.services.claims.claim` picks it up and begins that run
rather than starting another. Cancelling the task cancels the queued run too.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from flightlog.enums import AgentType, ApprovalStatus, RunStatus, TaskStatus
from flightlog.errors import Conflict, ValidationError
from flightlog.models import TaskRun
from flightlog.services import events
from flightlog.services._common import member, utc_now
from flightlog.services.chosen_ids import chosen_id
from flightlog.services.json_shapes import check_execution_context
from flightlog.services.lifecycle import RUN_LIFECYCLE, TASK_LIFECYCLE
from flightlog.services.ownership import assert_owned
from flightlog.services.runs import (
    lock_run,
    lock_task,
    next_run_number,
    queued_run,
    set_run_status,
)
from flightlog.services.task_statistics import refresh_task_statistics
from flightlog.services.tasks import transition_task

#: A finished task goes back to waiting when a new run is queued for it.
_WAITS_AGAIN = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.TIMEOUT})


def enqueue_run(
    session: Session,
    customer_id: uuid.UUID,
    /,
    task_id: uuid.UUID,
    *,
    plan: dict[str, Any] | None = None,
    input_context: dict[str, Any] | None = None,
    agent_id: uuid.UUID | None = None,
    agent_type: AgentType | str | None = None,
    git_branch: str | None = None,
    actor: str | None = None,
    id: uuid.UUID | str | None = None,
) -> TaskRun:
    """Queue the task's next run. A cancelled task cannot be queued; nor a second run.

    ``id`` is for a caller moving existing data in (:class:`Conflict` when it is taken).
    """
    kind = member(AgentType, agent_type, "agent_type") if agent_type is not None else None
    if input_context is not None:
        check_execution_context(input_context, "input_context")
    task = lock_task(session, task_id, customer_id)
    assert_owned(session, customer_id, agent_ids=[agent_id])
    chosen = chosen_id(session, TaskRun, id)
    already = queued_run(session, task_id)
    if already is not None:
        raise Conflict(
            f"run #{already.run_number} of this task is already queued", run_id=str(already.id)
        )
    if task.status in _WAITS_AGAIN or task.status is TaskStatus.CANCELLED:
        TASK_LIFECYCLE.check(task.status, TaskStatus.PENDING)
    run = TaskRun(
        task_id=task_id,
        run_number=next_run_number(session, task_id),
        status=RunStatus.PENDING,
        plan=plan,
        input_context=input_context or {},
        agent_id=agent_id,
        agent_type=kind,
        git_branch=git_branch,
    )
    if chosen is not None:
        run.id = chosen
    session.add(run)
    session.flush()
    events.record_transition(
        session,
        entity=RUN_LIFECYCLE.entity,
        entity_id=run.id,
        from_status=None,
        to_status=RunStatus.PENDING,
        customer_id=customer_id,
        task_id=task_id,
        run_id=run.id,
        actor=actor,
        data={"queued": True},
    )
    if task.status in _WAITS_AGAIN:
        transition_task(session, task, TaskStatus.PENDING, actor=actor, reason="run queued")
    session.flush()
    refresh_task_statistics(session, task_id)
    return run


def begin_run(
    session: Session,
    customer_id: uuid.UUID,
    /,
    run_id: uuid.UUID,
    *,
    await_plan_approval: bool = False,
    actor: str | None = None,
) -> TaskRun:
    """Start a queued run: RUNNING, or WAITING_APPROVAL when its plan needs approval first."""
    task, run = lock_run(session, run_id, customer_id)
    if run.status is not RunStatus.PENDING:
        # The transition table alone would let "begin" skip a pending plan decision
        # (WAITING_APPROVAL -> RUNNING) or restart a running run's clock.
        raise Conflict(
            f"run #{run.run_number} is {run.status}; only a queued (PENDING) run can be begun",
            run_id=str(run.id),
            status=str(run.status),
        )
    target = RunStatus.WAITING_APPROVAL if await_plan_approval else RunStatus.RUNNING
    if await_plan_approval and run.plan is None:
        raise ValidationError("a run that awaits plan approval needs a plan")
    RUN_LIFECYCLE.check(run.status, target)
    if task.status is not TaskStatus.RUNNING:
        transition_task(session, task, TaskStatus.RUNNING, actor=actor)
    if await_plan_approval:
        run.plan_status = ApprovalStatus.PENDING
    run.started_at = utc_now()
    set_run_status(session, task, run, target, actor=actor, data={"queued": False})
    session.flush()
    refresh_task_statistics(session, task.id)
    return run

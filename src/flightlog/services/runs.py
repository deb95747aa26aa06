"""Task runs: start with a gap-free run number, plan approval, finish, cancel.

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

from flightlog.enums import AgentRunStatus, AgentType, ApprovalStatus, RunStatus, TaskStatus
from flightlog.errors import Conflict, NotFound, ValidationError
from flightlog.models import AgentRun, Task, TaskRun
from flightlog.services._common import (
    get_owned,
    measured_duration,
    measured_time,
    member,
    not_before,
    not_found,
    require,
    utc_now,
)
from flightlog.services._dialect import equals_constant
from flightlog.services.chosen_ids import chosen_id
from flightlog.services.json_shapes import check_execution_context
from flightlog.services.lifecycle import (
    ACTIVE_AGENT_RUN_STATUSES,
    ACTIVE_RUN_STATUSES,
    AGENT_RUN_LIFECYCLE,
    RUN_LIFECYCLE,
    TASK_LIFECYCLE,
    move,
)
from flightlog.services.ownership import assert_owned
from flightlog.services.task_statistics import refresh_task_statistics
from flightlog.services.tasks import transition_task

FINISHED_RUN_TO_TASK = {
    RunStatus.COMPLETED: TaskStatus.COMPLETED,
    RunStatus.FAILED: TaskStatus.FAILED,
    RunStatus.TIMEOUT: TaskStatus.TIMEOUT,
}


def lock_task(session: Session, task_id: uuid.UUID, customer_id: uuid.UUID) -> Task:
    """The customer's task, locked and freshly read; another tenant's task is never locked."""
    return get_owned(session, Task, task_id, customer_id=customer_id, for_update=True)


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


def submit_plan(
    session: Session,
    customer_id: uuid.UUID,
    /,
    run_id: uuid.UUID,
    plan: dict[str, Any],
    *,
    actor: str | None = None,
) -> TaskRun:
    """A running run proposes a plan and waits until a person approves it."""
    task, run = lock_run(session, run_id, customer_id)
    set_run_status(session, task, run, RunStatus.WAITING_APPROVAL, actor=actor)
    run.plan = plan
    run.plan_status = ApprovalStatus.PENDING
    run.plan_decided_by = run.plan_decided_at = run.plan_comment = None
    session.flush()
    return run


def decide_plan(
    session: Session,
    customer_id: uuid.UUID,
    /,
    run_id: uuid.UUID,
    *,
    approve: bool,
    decided_by: str,
    comment: str | None = None,
) -> TaskRun:
    """Record a person's decision on the plan: approval resumes the run, rejection ends it."""
    require(bool(decided_by and decided_by.strip()), "decided_by must name who decided")
    task, run = lock_run(session, run_id, customer_id)
    if run.status is not RunStatus.WAITING_APPROVAL:
        raise Conflict(f"run {run_id} is {run.status}, not waiting for plan approval")
    run.plan_status = ApprovalStatus.APPROVED if approve else ApprovalStatus.REJECTED
    run.plan_decided_by = decided_by
    run.plan_decided_at = utc_now()
    run.plan_comment = comment
    decision = {"plan_decision": run.plan_status.value, "comment": comment}
    if approve:
        set_run_status(session, task, run, RunStatus.RUNNING, actor=decided_by, data=decision)
        session.flush()
    else:
        _finish(session, task, run, RunStatus.CANCELLED, actor=decided_by, data=decision)
    return run


def approve_plan(
    session: Session,
    customer_id: uuid.UUID,
    /,
    run_id: uuid.UUID,
    *,
    decided_by: str,
    comment: str | None = None,
) -> TaskRun:
    """:func:`decide_plan` with ``approve=True``: the run resumes RUNNING."""
    return decide_plan(
        session, customer_id, run_id, approve=True, decided_by=decided_by, comment=comment
    )


def reject_plan(
    session: Session,
    customer_id: uuid.UUID,
    /,
    run_id: uuid.UUID,
    *,
    decided_by: str,
    comment: str | None = None,
) -> TaskRun:
    """:func:`decide_plan` with ``approve=False``: the run ends CANCELLED."""
    return decide_plan(
        session, customer_id, run_id, approve=False, decided_by=decided_by, comment=comment
    )


def _cancel_agent_runs(session: Session, task: Task, run: TaskRun | None) -> None:
    """Cancel the run's unfinished agent runs (``run=None``: the task's run-less ones),
    each with its duration and audit event."""
    of_run = AgentRun.run_id == run.id if run is not None else AgentRun.run_id.is_(None)
    stmt = select(AgentRun).where(
        AgentRun.task_id == task.id,
        of_run,
        AgentRun.status.in_([s.value for s in ACTIVE_AGENT_RUN_STATUSES]),
    )
    for agent_run in (session.scalars(stmt)).all():
        move(
            session,
            AGENT_RUN_LIFECYCLE,
            agent_run,
            AgentRunStatus.CANCELLED,
            customer_id=task.customer_id,
            task_id=task.id,
            run_id=agent_run.run_id,
            agent_run_id=agent_run.id,
            agent_id=agent_run.agent_id,
            data={"reason": f"run {run.status.value.lower()}" if run else "task cancelled"},
        )


def _finish(
    session: Session,
    task: Task,
    run: TaskRun,
    target: RunStatus,
    *,
    actor: str | None,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
    duration: float | None = None,
) -> None:
    set_run_status(session, task, run, target, actor=actor, data=data, at=at)
    if duration is not None:
        run.duration_seconds = duration  # as the caller timed it (measured_duration checked it)
    if target is RunStatus.CANCELLED:
        _cancel_agent_runs(session, task, run)
    session.flush()
    others_going = session.scalar(
        select(func.count(TaskRun.id)).where(
            TaskRun.task_id == task.id,
            TaskRun.id != run.id,
            TaskRun.status.in_([RunStatus.RUNNING.value, RunStatus.WAITING_APPROVAL.value]),
        )
    )
    if not others_going and task.status is TaskStatus.RUNNING:
        # With a run queued behind this one the task is waiting again, not finished.
        outcome = FINISHED_RUN_TO_TASK.get(target, TaskStatus.PENDING)
        if queued_run(session, task.id) is not None:
            outcome = TaskStatus.PENDING
        transition_task(session, task, outcome, actor=actor, at=at)
    refresh_task_statistics(session, task.id)


def finish_run(
    session: Session,
    customer_id: uuid.UUID,
    /,
    run_id: uuid.UUID,
    *,
    status: RunStatus = RunStatus.COMPLETED,
    results: dict[str, Any] | None = None,
    error_message: str | None = None,
    error_details: dict[str, Any] | None = None,
    memory_usage_mb: int | None = None,
    cpu_time_ms: int | None = None,
    git_commit: str | None = None,
    pr_url: str | None = None,
    actor: str | None = None,
    completed_at: datetime | None = None,
    duration_seconds: float | None = None,
) -> TaskRun:
    """End a run as COMPLETED (with results), FAILED (with error details), TIMEOUT or CANCELLED.

    ``completed_at`` is for a caller that measured the end itself; it must be
    timezone-aware and not before the run started. ``duration_seconds`` is
    the run's length as the caller timed it: non-negative, and with
    ``completed_at`` it must agree with the two times (within a millisecond);
    alone, the run ends at its start plus the duration.
    """
    at = measured_time(completed_at, "completed_at") if completed_at is not None else None
    status = member(RunStatus, status, "status")
    if status in ACTIVE_RUN_STATUSES:
        raise ValidationError(f"{status} is not a finishing status")
    if status is RunStatus.FAILED and not (error_message or error_details):
        raise ValidationError("a FAILED run needs error_message or error_details")
    for name, value in (("memory_usage_mb", memory_usage_mb), ("cpu_time_ms", cpu_time_ms)):
        require(value is None or value >= 0, f"{name} cannot be negative")
    task, run = lock_run(session, run_id, customer_id)
    RUN_LIFECYCLE.check(run.status, status)
    if at is not None:
        not_before(at, run.started_at, "completed_at")
    at, duration = measured_duration(duration_seconds, run.started_at, at)
    run.results = results if results is not None else run.results
    run.error_message = error_message
    run.error_details = error_details
    run.memory_usage_mb = memory_usage_mb
    run.cpu_time_ms = cpu_time_ms
    run.git_commit = git_commit or run.git_commit
    run.pr_url = pr_url or run.pr_url
    _finish(session, task, run, status, actor=actor, at=at, duration=duration)
    return run


def fail_run(
    session: Session,
    customer_id: uuid.UUID,
    /,
    run_id: uuid.UUID,
    *,
    error_message: str,
    error_details: dict[str, Any] | None = None,
    results: dict[str, Any] | None = None,
    memory_usage_mb: int | None = None,
    cpu_time_ms: int | None = None,
    git_commit: str | None = None,
    pr_url: str | None = None,
    actor: str | None = None,
    completed_at: datetime | None = None,
    duration_seconds: float | None = None,
) -> TaskRun:
    """:func:`finish_run` with ``status=FAILED``; the error message is required here."""
    return finish_run(
        session,
        customer_id,
        run_id,
        status=RunStatus.FAILED,
        error_message=error_message,
        error_details=error_details,
        results=results,
        memory_usage_mb=memory_usage_mb,
        cpu_time_ms=cpu_time_ms,
        git_commit=git_commit,
        pr_url=pr_url,
        actor=actor,
        completed_at=completed_at,
        duration_seconds=duration_seconds,
    )


def timeout_run(
    session: Session,
    customer_id: uuid.UUID,
    /,
    run_id: uuid.UUID,
    *,
    results: dict[str, Any] | None = None,
    error_message: str | None = None,
    error_details: dict[str, Any] | None = None,
    memory_usage_mb: int | None = None,
    cpu_time_ms: int | None = None,
    git_commit: str | None = None,
    pr_url: str | None = None,
    actor: str | None = None,
    completed_at: datetime | None = None,
    duration_seconds: float | None = None,
) -> TaskRun:
    """:func:`finish_run` with ``status=TIMEOUT``."""
    return finish_run(
        session,
        customer_id,
        run_id,
        status=RunStatus.TIMEOUT,
        results=results,
        error_message=error_message,
        error_details=error_details,
        memory_usage_mb=memory_usage_mb,
        cpu_time_ms=cpu_time_ms,
        git_commit=git_commit,
        pr_url=pr_url,
        actor=actor,
        completed_at=completed_at,
        duration_seconds=duration_seconds,
    )


def cancel_run(
    session: Session,
    customer_id: uuid.UUID,
    /,
    run_id: uuid.UUID,
    *,
    results: dict[str, Any] | None = None,
    error_message: str | None = None,
    error_details: dict[str, Any] | None = None,
    memory_usage_mb: int | None = None,
    cpu_time_ms: int | None = None,
    git_commit: str | None = None,
    pr_url: str | None = None,
    actor: str | None = None,
    completed_at: datetime | None = None,
    duration_seconds: float | None = None,
) -> TaskRun:
    """:func:`finish_run` with ``status=CANCELLED``: its active agent runs are cancelled too."""
    return finish_run(
        session,
        customer_id,
        run_id,
        status=RunStatus.CANCELLED,
        results=results,
        error_message=error_message,
        error_details=error_details,
        memory_usage_mb=memory_usage_mb,
        cpu_time_ms=cpu_time_ms,
        git_commit=git_commit,
        pr_url=pr_url,
        actor=actor,
        completed_at=completed_at,
        duration_seconds=duration_seconds,
    )


def cancel_task(
    session: Session,
    customer_id: uuid.UUID,
    /,
    task_id: uuid.UUID,
    *,
    actor: str | None = None,
    reason: str | None = None,
) -> Task:
    """Cancel a task and every run (and agent run) of it that is still active."""
    task = lock_task(session, task_id, customer_id)
    TASK_LIFECYCLE.check(task.status, TaskStatus.CANCELLED)
    active = (
        session.scalars(
            select(TaskRun)
            .where(
                TaskRun.task_id == task_id,
                TaskRun.status.in_([s.value for s in ACTIVE_RUN_STATUSES]),
            )
            .with_for_update()
        )
    ).all()
    for run in active:
        set_run_status(session, task, run, RunStatus.CANCELLED, actor=actor)
        _cancel_agent_runs(session, task, run)
    _cancel_agent_runs(session, task, None)  # seed 001's agent runs of the task itself
    transition_task(session, task, TaskStatus.CANCELLED, actor=actor, reason=reason)
    task.claimed_by = None
    task.lease_expires_at = None
    session.flush()
    refresh_task_statistics(session, task_id)
    return task

"""Ending runs: finish (COMPLETED, FAILED, TIMEOUT, CANCELLED) and cancelling a task.

A run ends with its task locked first (see :mod:`flightlog.services.run_locks`);
the task's status and statistics follow in the same transaction, and a
cancelled run or task takes its unfinished agent runs with it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flightlog.enums import AgentRunStatus, RunStatus, TaskStatus
from flightlog.errors import ValidationError
from flightlog.models import AgentRun, Task, TaskRun
from flightlog.services._common import (
    measured_duration,
    measured_time,
    member,
    not_before,
    require,
)
from flightlog.services.lifecycle import (
    ACTIVE_AGENT_RUN_STATUSES,
    ACTIVE_RUN_STATUSES,
    AGENT_RUN_LIFECYCLE,
    RUN_LIFECYCLE,
    TASK_LIFECYCLE,
    move,
)
from flightlog.services.run_locks import (
    FINISHED_RUN_TO_TASK,
    lock_run,
    lock_task,
    queued_run,
    set_run_status,
)
from flightlog.services.task_statistics import refresh_task_statistics
from flightlog.services.tasks import transition_task


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


def end_run(
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
    """End a locked run (its agent runs too when cancelled) and move its task on.

    The task follows only when no other run of it is going: to the run's
    outcome, or back to PENDING when a run is queued behind this one.
    """
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
    end_run(session, task, run, status, actor=actor, at=at, duration=duration)
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

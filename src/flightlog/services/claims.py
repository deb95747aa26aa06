"""Work claiming: agents lease ready tasks, extend the lease by heartbeat, release or finish.

PostgreSQL hands each worker different rows with ``FOR UPDATE SKIP LOCKED``,
so claimers never wait on each other. SQLite serialises writers with
``BEGIN IMMEDIATE``; the same query then sees every earlier claim. Either
way a task is held by at most one live lease; when a lease expires without a
heartbeat the task becomes claimable again (the previous holder's finish is
then refused).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from flightlog.enums import RunStatus, TaskStatus
from flightlog.errors import Conflict
from flightlog.models import Task, TaskRun
from flightlog.services import run_queue
from flightlog.services import runs as run_service
from flightlog.services._common import require, utc_now
from flightlog.services.events import record_transition
from flightlog.services.tasks import unmet_dependency

MAX_CLAIM_BATCH = 100
#: A lease longer than a week is a forgotten worker, not a slow one.
MAX_LEASE_SECONDS = 7 * 24 * 3600


def _check_lease(lease_seconds: float) -> None:
    require(
        isinstance(lease_seconds, int | float) and 0 < lease_seconds <= MAX_LEASE_SECONDS,
        f"lease_seconds must be more than 0 and at most {MAX_LEASE_SECONDS:,} (a week)",
    )


@dataclass(frozen=True)
class Claim:
    """A leased task and the run started for it."""

    task_id: uuid.UUID
    run_id: uuid.UUID
    worker: str
    lease_expires_at: datetime


def _claimable(now: datetime) -> object:
    fresh = and_(Task.status == TaskStatus.PENDING.value, ~unmet_dependency())
    expired = and_(Task.status == TaskStatus.RUNNING.value, Task.lease_expires_at < now)
    return or_(fresh, expired)


def claim(
    session: Session,
    customer_id: uuid.UUID,
    /,
    worker: str,
    *,
    lease_seconds: float = 300.0,
    limit: int = 1,
) -> list[Claim]:
    """Lease up to ``limit`` ready tasks (highest priority first) and start a run for each.

    A task with a queued run gets that run begun rather than a new one.
    """
    require(0 < len(worker) <= 255, "worker must be 1 to 255 characters")
    _check_lease(lease_seconds)
    require(1 <= limit <= MAX_CLAIM_BATCH, f"limit must be between 1 and {MAX_CLAIM_BATCH}")
    now = utc_now()
    stmt = (
        select(Task)
        .where(Task.customer_id == customer_id, _claimable(now))  # type: ignore[arg-type]
        .order_by(Task.priority.desc(), Task.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    tasks = list((session.scalars(stmt)).all())
    claims: list[Claim] = []
    expires = now + timedelta(seconds=lease_seconds)
    for task in tasks:
        if task.status is TaskStatus.RUNNING:
            _abandon_expired(session, task, worker)
        task.claimed_by = worker
        task.lease_expires_at = expires
        queued = run_service.queued_run(session, task.id)
        if queued is not None:
            run = run_queue.begin_run(session, customer_id, queued.id, actor=worker)
        else:
            run = run_service.start_run(session, customer_id, task.id, actor=worker)
        claims.append(Claim(task.id, run.id, worker, expires))
    return claims


def _abandon_expired(session: Session, task: Task, new_worker: str) -> None:
    """The previous holder missed its heartbeat: time out its runs, hand the task over."""
    stale = (
        session.scalars(
            select(TaskRun).where(
                TaskRun.task_id == task.id,
                # A queued (PENDING) run is not the lost worker's: the new holder begins it.
                TaskRun.status == RunStatus.RUNNING.value,
            )
        )
    ).all()
    for run in stale:
        run_service.set_run_status(
            session,
            task,
            run,
            RunStatus.TIMEOUT,
            actor=new_worker,
            data={"reason": f"lease of {task.claimed_by} expired"},
        )
    record_transition(
        session,
        entity="TaskLease",
        entity_id=task.id,
        from_status=task.claimed_by,
        to_status=new_worker,
        customer_id=task.customer_id,
        task_id=task.id,
        actor=new_worker,
        data={"reason": "lease expired"},
    )
    session.flush()


def _held(session: Session, task_id: uuid.UUID, *, customer_id: uuid.UUID, worker: str) -> Task:
    task = run_service.lock_task(session, task_id, customer_id)
    if task.claimed_by != worker or task.lease_expires_at is None:
        raise Conflict(f"task {task_id} is not claimed by {worker}")
    if task.lease_expires_at < utc_now():
        raise Conflict(f"the lease of {worker} on task {task_id} has expired")
    return task


def _held_run(session: Session, claimed: Claim, *, customer_id: uuid.UUID) -> Task:
    """The claim's task, held by its worker, and a run that is really that task's."""
    task = _held(session, claimed.task_id, customer_id=customer_id, worker=claimed.worker)
    # Looked up within the held task only: another tenant's run is never loaded,
    # and answers exactly as a run that does not exist.
    run = session.scalar(
        select(TaskRun).where(TaskRun.id == claimed.run_id, TaskRun.task_id == task.id)
    )
    if run is None:
        raise Conflict(
            f"run {claimed.run_id} is not a run of task {claimed.task_id}; "
            "send back the claim exactly as it was received"
        )
    return task


def heartbeat(
    session: Session,
    customer_id: uuid.UUID,
    /,
    task_id: uuid.UUID,
    worker: str,
    *,
    lease_seconds: float = 300.0,
) -> datetime:
    """Extend a live lease; refused once it has expired."""
    _check_lease(lease_seconds)
    task = _held(session, task_id, customer_id=customer_id, worker=worker)
    task.lease_expires_at = utc_now() + timedelta(seconds=lease_seconds)
    session.flush()
    return task.lease_expires_at


def complete(
    session: Session,
    customer_id: uuid.UUID,
    /,
    claimed: Claim,
    *,
    status: RunStatus = RunStatus.COMPLETED,
    results: dict[str, object] | None = None,
    error_message: str | None = None,
) -> TaskRun:
    """Finish the claimed run and let go of the task; only the live lease holder may."""
    task = _held_run(session, claimed, customer_id=customer_id)
    run = run_service.finish_run(
        session,
        customer_id,
        claimed.run_id,
        status=status,
        results=results,
        error_message=error_message,
        actor=claimed.worker,
    )
    task.claimed_by = None
    task.lease_expires_at = None
    session.flush()
    return run


def release(
    session: Session, customer_id: uuid.UUID, /, claimed: Claim, *, reason: str | None = None
) -> None:
    """Give a claimed task back unfinished: its run is cancelled, the task is PENDING again."""
    task = _held_run(session, claimed, customer_id=customer_id)
    run_service.finish_run(
        session,
        customer_id,
        claimed.run_id,
        status=RunStatus.CANCELLED,
        actor=claimed.worker,
        error_message=reason,
    )
    task.claimed_by = None
    task.lease_expires_at = None
    session.flush()

"""Task statistics, recomputed from the runs themselves.

The counters on ``tasks`` are a cache for fast listing. They are rewritten
from an aggregate over ``task_runs`` in the same transaction as every run
change, while the task row is locked, so two runs finishing at once cannot
leave them disagreeing with the runs.

Definitions: ``failed_runs`` counts FAILED and TIMEOUT runs; cancelled runs
count toward ``total_runs`` only; ``success_rate`` is
``100 * successful / (successful + failed)`` (0 when nothing has finished);
``avg_duration_seconds`` averages the runs that have a duration.
"""

from __future__ import annotations

import uuid

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from flightlog.db.types import UtcDateTime
from flightlog.enums import RunStatus
from flightlog.models import Task, TaskRun


def refresh_task_statistics(session: Session, task_id: uuid.UUID) -> None:
    """Recompute one task's counters from its runs. Call with the task row locked."""
    succeeded = func.coalesce(
        func.sum(case((TaskRun.status == RunStatus.COMPLETED.value, 1), else_=0)), 0
    )
    failed = func.coalesce(
        func.sum(
            case(
                (TaskRun.status.in_([RunStatus.FAILED.value, RunStatus.TIMEOUT.value]), 1),
                else_=0,
            )
        ),
        0,
    )
    row = (
        session.execute(
            select(
                func.count(TaskRun.id),
                succeeded,
                failed,
                func.avg(TaskRun.duration_seconds),
                func.max(
                    func.coalesce(TaskRun.started_at, TaskRun.created_at), type_=UtcDateTime()
                ),
            ).where(TaskRun.task_id == task_id)
        )
    ).one()
    total, ok, bad, avg_duration, last_run = (
        int(row[0]),
        int(row[1]),
        int(row[2]),
        row[3],
        row[4],
    )
    finished = ok + bad
    session.execute(
        update(Task)
        .where(Task.id == task_id)
        .values(
            total_runs=total,
            successful_runs=ok,
            failed_runs=bad,
            success_rate=round(100.0 * ok / finished, 4) if finished else 0.0,
            avg_duration_seconds=float(avg_duration) if avg_duration is not None else None,
            last_run_at=last_run,
        )
        # RETURNING the whole row refreshes a Task already in the session, including
        # updated_at (set by the database), so callers can still read it after commit.
        .returning(Task)
        .execution_options(synchronize_session="fetch", populate_existing=True)
    ).all()  # fetching the rows is what refreshes the Task (an async session prebuffers them)

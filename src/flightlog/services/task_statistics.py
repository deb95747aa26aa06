"""Task statistics, recomputed from the runs themselves.

The counters on ``tasks`` are a cache for fast listing. They are rewritten
from an aggregate over ``task_runs`` in the same transaction as every run
change, while the task row is locked, so two runs finishing at once cannot
leave them disagreeing with the runs.

Definitions: ``failed_runs`` counts FAILED and TIMEOUT runs; cancelled runs
count toward ``total_runs`` only; ``success_rate`` is
``100 * successful / (successful + failed)`` (0 when nothing has finished);
``avg_duration_seconds`` averages the runs that have a duration.

:func:`refresh_task_statistics` does one task; :func:`refresh_statistics_of`
does many in a few statements (span ingest touches several tasks per request).
Both aggregate with the same expressions and derive the counters with the same
Python, so they write the same values. The average is recomputed rather than
updated from the new runs: a running float average cannot reproduce the
database's ``avg`` exactly.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, bindparam, case, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from flightlog.db.types import UtcDateTime
from flightlog.enums import RunStatus
from flightlog.models import Task, TaskRun

#: Tasks per statement: IN lists stay far below any driver's limit on parameters.
_CHUNK = 1000


def _aggregates() -> tuple[ColumnElement[Any], ...]:
    """Runs, successful, failed, average duration, last run time: over the runs selected."""
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
    return (
        func.count(TaskRun.id),
        succeeded,
        failed,
        func.avg(TaskRun.duration_seconds),
        func.max(func.coalesce(TaskRun.started_at, TaskRun.created_at), type_=UtcDateTime()),
    )


def _counters(row: Sequence[Any]) -> dict[str, Any]:
    """The column values an aggregate row (as :func:`_aggregates` orders it) gives."""
    total, ok, bad, avg_duration, last_run = int(row[0]), int(row[1]), int(row[2]), row[3], row[4]
    finished = ok + bad
    return {
        "total_runs": total,
        "successful_runs": ok,
        "failed_runs": bad,
        "success_rate": round(100.0 * ok / finished, 4) if finished else 0.0,
        "avg_duration_seconds": float(avg_duration) if avg_duration is not None else None,
        "last_run_at": last_run,
    }


def refresh_task_statistics(session: Session, task_id: uuid.UUID) -> None:
    """Recompute one task's counters from its runs. Call with the task row locked."""
    row = session.execute(select(*_aggregates()).where(TaskRun.task_id == task_id)).one()
    session.execute(
        update(Task)
        .where(Task.id == task_id)
        .values(**_counters(row))
        # RETURNING the whole row refreshes a Task already in the session, including
        # updated_at (set by the database), so callers can still read it after commit.
        .returning(Task)
        .execution_options(synchronize_session="fetch", populate_existing=True)
    ).all()  # fetching the rows is what refreshes the Task (an async session prebuffers them)


def refresh_statistics_of(session: Session, task_ids: Collection[uuid.UUID]) -> None:
    """Recompute many tasks' counters, as :func:`refresh_task_statistics` would each.

    Call with the task rows locked. One grouped aggregate and one executemany
    UPDATE per thousand tasks, whatever their number; Task objects already in
    the session are then reloaded (one SELECT), as the one-task refresh does.
    """
    ordered = sorted(set(task_ids))
    if not ordered:
        return
    no_runs = (0, 0, 0, None, None)  # what the ungrouped aggregate gives a task without runs
    grouped = select(TaskRun.task_id, *_aggregates()).group_by(TaskRun.task_id)
    rows: list[dict[str, Any]] = []
    for part in _chunks(ordered):
        found = {
            row[0]: row[1:]
            for row in session.execute(grouped.where(TaskRun.task_id.in_(part))).all()
        }
        rows.extend(
            {"task_id": task_id, **_counters(found.get(task_id, no_runs))} for task_id in part
        )
    table = Task.__table__
    assert isinstance(table, Table)
    # Core, so it is one executemany; updated_at still takes its onupdate (the database clock).
    session.execute(
        update(table)
        .where(table.c.id == bindparam("task_id"))
        .values({name: bindparam(name) for name in rows[0] if name != "task_id"}),
        rows,
    )
    present = [i for i in ordered if identity_key(Task, i) in session.identity_map]
    for part in _chunks(present):
        session.scalars(
            select(Task).where(Task.id.in_(part)).execution_options(populate_existing=True)
        ).all()


def _chunks(values: list[uuid.UUID]) -> Iterator[list[uuid.UUID]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]

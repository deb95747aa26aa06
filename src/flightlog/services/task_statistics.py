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
(or :func:`tally_runs` then :func:`write_statistics`) does many in a few
statements, as span ingest needs for the several tasks of each request. Both
aggregate with the same expressions and derive the counters with the same
Python, so they write the same values. The average is recomputed rather than
updated from the new runs: a running float average cannot reproduce the
database's ``avg`` exactly. On PostgreSQL it averages the durations as
``numeric``: a float sum depends on the order of its terms, and a scan's order on
the plan, so one task refreshed alone and among others could otherwise differ in
the last bit; an exact sum needs no sort to be the same. SQLite reads a task's
runs through the same index either way.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Float, bindparam, case, func, select, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from flightlog.db.base import table_of
from flightlog.db.types import UtcDateTime
from flightlog.enums import RunStatus
from flightlog.models import Task, TaskRun
from flightlog.services._common import chunks

#: The run statuses that keep a task RUNNING.
_ACTIVE = (RunStatus.RUNNING, RunStatus.WAITING_APPROVAL)


class exact_avg(FunctionElement[float]):  # noqa: N801 - reads like the SQL it renders
    """``avg(value)``, the same whatever order the database reads the rows in.

    PostgreSQL adds floats in the order it reads them, so a task refreshed alone
    and in a group could differ in the last digit; summed as ``numeric`` the sum
    is exact and the average is one rounding of it (no sort needed). SQLite
    reads a task's runs through the same index either way.
    """

    type = Float()
    inherit_cache = True


@compiles(exact_avg)
def _avg(element: exact_avg, compiler: SQLCompiler, **options: Any) -> str:
    value = next(iter(element.clauses))
    return f"avg({compiler.process(value, **options)})"


@compiles(exact_avg, "postgresql")
def _avg_numeric(element: exact_avg, compiler: SQLCompiler, **options: Any) -> str:
    value = next(iter(element.clauses))
    return f"CAST(avg(CAST({compiler.process(value, **options)} AS numeric)) AS double precision)"


def _count_of(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _aggregates() -> tuple[ColumnElement[Any], ...]:
    """Runs, successful, failed, average duration, last run time: over the runs selected."""
    return (
        func.count(TaskRun.id),
        _count_of(TaskRun.status == RunStatus.COMPLETED.value),
        _count_of(TaskRun.status.in_([RunStatus.FAILED.value, RunStatus.TIMEOUT.value])),
        exact_avg(TaskRun.duration_seconds),
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


class RunTally(NamedTuple):
    """What a task's runs add up to: its counters' values, and how many runs are active."""

    counters: dict[str, Any]
    active: int


# Built once: span ingest runs these for every request.
_TALLY = (
    select(
        TaskRun.task_id,
        *_aggregates(),
        _count_of(TaskRun.status.in_([status.value for status in _ACTIVE])),
    )
    .where(TaskRun.task_id.in_(bindparam("task_ids", expanding=True)))
    .group_by(TaskRun.task_id)
)
_WRITE = (
    update(table_of(Task))
    .where(table_of(Task).c.id == bindparam("task_id"))
    # Core, so it is one executemany; updated_at still takes its onupdate (the database clock).
    .values({name: bindparam(name) for name in _counters((0, 0, 0, None, None))})
)
_RELOAD = (
    select(Task)
    .where(Task.id.in_(bindparam("task_ids", expanding=True)))
    .execution_options(populate_existing=True)
)


def tally_runs(session: Session, task_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, RunTally]:
    """Each task's tally, one grouped aggregate per thousand tasks. Call with the tasks locked."""
    no_runs = (0, 0, 0, None, None, 0)  # what the ungrouped aggregate gives a task without runs
    tallies: dict[uuid.UUID, RunTally] = {}
    for part in chunks(sorted(set(task_ids))):
        found = {row[0]: row[1:] for row in session.execute(_TALLY, {"task_ids": part}).all()}
        for task_id in part:
            row = found.get(task_id, no_runs)
            tallies[task_id] = RunTally(_counters(row), int(row[5]))
    return tallies


def write_statistics(session: Session, tallies: Mapping[uuid.UUID, RunTally]) -> None:
    """Write tallied counters: one executemany UPDATE, then one SELECT reloads the Task
    objects already in the session (as the one-task refresh's RETURNING does)."""
    if not tallies:
        return
    ordered = sorted(tallies)
    rows = [{"task_id": task_id, **tallies[task_id].counters} for task_id in ordered]
    session.execute(_WRITE, rows)
    present = [i for i in ordered if identity_key(Task, i) in session.identity_map]
    for part in chunks(present):
        session.scalars(_RELOAD, {"task_ids": part}).all()


def refresh_statistics_of(session: Session, task_ids: Collection[uuid.UUID]) -> None:
    """Recompute many tasks' counters, each as :func:`refresh_task_statistics` would.

    Call with the task rows locked. A few statements whatever the number of tasks.
    """
    write_statistics(session, tally_runs(session, task_ids))

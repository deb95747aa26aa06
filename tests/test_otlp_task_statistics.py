"""Several tasks in each span request: each task's status and statistics still exact.

The writer tallies all the tasks of a request in one grouped aggregate and writes
their statistics in one executemany (``task_statistics.tally_runs`` /
``write_statistics``). Each task must still end as the one-task refresh
(``refresh_task_statistics``) computes it, and its status follow its
latest-started run whatever order runs arrive in (RUNNING while a run is
active). Both dialects, through the synchronous Store.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select, update

from flightlog.enums import TaskStatus
from flightlog.models import Task
from flightlog.otlp.spans import Span
from flightlog.services.task_statistics import refresh_statistics_of, refresh_task_statistics
from flightlog.store.sync import SyncStore
from otlp_spans import agent, chat, failing, new_trace_id

FIELDS = (
    "total_runs",
    "successful_runs",
    "failed_runs",
    "success_rate",
    "avg_duration_seconds",
    "last_run_at",
)


def _trace(
    task: str | uuid.UUID, start: float, seconds: float, *, failed: bool = False
) -> list[Span]:
    """One run's spans: a root for the task (by title, or by id) and a model call under it."""
    trace_id = new_trace_id()
    attributes: dict[str, Any] = (
        {"flightlog.task_id": str(task)}
        if isinstance(task, uuid.UUID)
        else {"flightlog.task": task}
    )
    root = agent(trace_id, "planner", start, start + seconds, attributes=attributes)
    call = chat(trace_id, (10, 2), start + 0.01, start + 0.02, parent=root)
    return [failing(root, "gave up") if failed else root, call]


def _statistics(task: Task) -> tuple[Any, ...]:
    return tuple(getattr(task, name) for name in FIELDS)


def _recomputed(store: SyncStore, task_id: uuid.UUID) -> tuple[Any, ...]:
    """What the one-task refresh computes for the task now."""
    with store.transaction() as session:
        refresh_task_statistics(session, task_id)
        task = session.get(Task, task_id)
        assert task is not None
        return _statistics(task)


def _task_of(store: SyncStore, spans: list[Span]) -> uuid.UUID:
    run = store.traces.get(spans[0].trace_id).run
    assert run is not None
    return run.task_id


def test_several_tasks_per_request_with_runs_out_of_order(sync_store: SyncStore) -> None:
    held = sync_store.tasks.create(title="held open")
    sync_store.runs.start(held.id)  # an active run: the task stays RUNNING
    first = {
        "a": [_trace("stats a", 100, 1.3), _trace("stats a", 200, 0.7, failed=True)],
        "b": [_trace("stats b", 10, 0.45, failed=True)],
        "held": [_trace(held.id, 20, 2.25)],
    }
    second = {  # earlier-starting runs arrive later, for every task but b
        "a": [_trace("stats a", 50, 2.9)],
        "b": [_trace("stats b", 300, 1.1)],
        "held": [_trace(held.id, 5, 0.3, failed=True)],
        "d": [_trace("stats d", 150, 3.7), _trace("stats d", 140, 0.9, failed=True)],
    }
    result = sync_store.traces.record([s for runs in first.values() for t in runs for s in t])
    assert result.rejected == []
    ids = {name: _task_of(sync_store, runs[0]) for name, runs in first.items()}
    assert {name: sync_store.tasks.get(i).status for name, i in ids.items()} == {
        "a": TaskStatus.FAILED,
        "b": TaskStatus.FAILED,
        "held": TaskStatus.RUNNING,
    }
    result = sync_store.traces.record([s for runs in second.values() for t in runs for s in t])
    assert result.rejected == []
    ids["d"] = _task_of(sync_store, second["d"][0])
    assert ids["held"] == held.id
    assert len(set(ids.values())) == 4
    assert {name: sync_store.tasks.get(i).status for name, i in ids.items()} == {
        "a": TaskStatus.FAILED,  # its latest run by start (200) failed, though 50 came last
        "b": TaskStatus.COMPLETED,
        "held": TaskStatus.RUNNING,
        "d": TaskStatus.COMPLETED,
    }
    expected = {  # (runs, successful, failed, success rate, durations)
        "a": (3, 2, 1, 66.6667, [1.3, 0.7, 2.9]),
        "b": (2, 1, 1, 50.0, [0.45, 1.1]),
        "held": (3, 1, 1, 50.0, [2.25, 0.3]),  # the started run has no duration yet
        "d": (2, 1, 1, 50.0, [3.7, 0.9]),
    }
    for name, task_id in ids.items():
        stored = _statistics(sync_store.tasks.get(task_id))
        assert stored == _recomputed(sync_store, task_id), name
        runs, ok, bad, rate, durations = expected[name]
        assert stored[:4] == (runs, ok, bad, rate), name
        assert stored[4] == pytest.approx(sum(durations) / len(durations)), name
        starts = [run.started_at for run in sync_store.runs.list(task_id)]
        assert stored[5] == max(start for start in starts if start is not None), name


def test_refreshing_many_tasks_at_once_equals_refreshing_each(sync_store: SyncStore) -> None:
    spans = [
        _trace("many a", 10, 1.3),
        _trace("many a", 20, 0.7, failed=True),
        _trace("many b", 30, 2.9),
    ]
    sync_store.traces.record([s for trace in spans for s in trace])
    ids = sorted({_task_of(sync_store, trace) for trace in spans})
    ids.append(sync_store.tasks.create(title="no runs").id)
    each = {task_id: _recomputed(sync_store, task_id) for task_id in ids}
    with sync_store.transaction() as session:
        session.execute(  # wrong counters, for the refresh to put right
            update(Task)
            .where(Task.id.in_(ids))
            .values(total_runs=9, successful_runs=1, failed_runs=1, success_rate=50.0)
        )
        loaded = list(session.scalars(select(Task).where(Task.id.in_(ids))))
        assert {task.total_runs for task in loaded} == {9}
        refresh_statistics_of(session, ids)
        # The Task objects already in the session show what was written, as after the
        # one-task refresh's RETURNING.
        assert {task.id: _statistics(task) for task in loaded} == each
    assert {task_id: _statistics(sync_store.tasks.get(task_id)) for task_id in ids} == each
    assert each[ids[-1]] == (0, 0, 0, 0.0, None, None)

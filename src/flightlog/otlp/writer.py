"""Writing what a :class:`~flightlog.otlp.records.RecordBuilder` collected, in bulk.

Order matters for the foreign keys: sessions, runs (numbered per task under
the task lock), agent runs, large content as artifacts, usage of earlier
agent runs, events (the batch ingest path: COPY on PostgreSQL), then each
task's status and statistics. Each kind of row is one statement.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ScalarSelect, bindparam, func, insert, select, text, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from flightlog.db.base import table_of
from flightlog.db.partition_layout import slots_of
from flightlog.db.partitions import ensure_slots
from flightlog.db.types import new_uuid
from flightlog.enums import ArtifactType, RunStatus, TaskStatus
from flightlog.errors import Conflict
from flightlog.ingest.own_rows import write_own_events
from flightlog.models import DEFERRABLE_FOREIGN_KEYS, AgentRun, AgentSession, Task, TaskRun
from flightlog.otlp.ledger import clean_text
from flightlog.otlp.readings import span_time as at
from flightlog.otlp.records import SOURCE, NewRun, RecordBuilder, run_outcome, run_results
from flightlog.services import artifacts
from flightlog.services._common import chunks
from flightlog.services._dialect import lock_names_for_customer
from flightlog.services.agent_runs import refuse_total_past_columns, roll_up_usage
from flightlog.services.runs import FINISHED_RUN_TO_TASK
from flightlog.services.sessions import fit_external_id
from flightlog.services.task_statistics import tally_runs, write_statistics
from flightlog.services.tasks import transition_task

#: The usage a new agent run or run holds before its spans' is added.
NOTHING = (0, 0, Decimal(0))


def write(
    session: Session,
    customer_id: uuid.UUID,
    records: RecordBuilder,
    *,
    ledger_rows: Callable[[], None],
) -> None:
    """Insert the runs, agent runs, events and artifacts; update usage, tasks and sessions.

    ``ledger_rows`` writes the span ledger's rows, which refer to the runs too.

    On PostgreSQL the runs come last. Their number is the task's next one, so
    they are inserted under the tasks' row locks, which are held until the
    transaction ends; another request's runs of the same tasks wait for that.
    Everything else goes first, with the references to runs deferred to the
    end of this function, so concurrent requests overlap all of it and queue
    only for the tail: the runs, the tasks' statuses and statistics, and the
    checks of the deferred references (decision 0024). On SQLite, which has
    one writer, the runs come first and every reference is checked as written.
    """
    earlier_usage = records.settle_usage()
    for row in records.agent_runs:
        usage = (row["tokens_in"], row["tokens_out"], row["cost_usd"])
        refuse_total_past_columns("agent run", NOTHING, usage)
    # An artifact must find its run, and its id goes into an event: a request with
    # content too large for an event (rare) writes its runs first on PostgreSQL too.
    runs_last = session.get_bind().dialect.name == "postgresql" and not records.large
    if runs_last:
        # By name, so an embedder's own deferrable constraints are left as they are; the
        # events' months are made first, since a partition made later would get its own
        # copy of the reference, checked immediately.
        ensure_slots(
            session.connection(), "events", slots_of([row["created_at"] for row in records.events])
        )
        session.execute(_DEFER_RUN_REFERENCES)
    else:
        _numbered_runs(session, customer_id, records)
    if records.agent_runs:
        session.connection().execute(insert(table_of(AgentRun)), records.agent_runs)
    for large in records.large:
        artifact = artifacts.put(
            session,
            customer_id,
            records.limits.policy,
            large.task_id,
            f"span-{large.span.span_id}-{large.what}.json",
            large.content,
            content_type="application/json",
            artifact_type=ArtifactType.LOG,
            run_id=large.run_id,
            metadata={"source": SOURCE, "trace_id": large.span.trace_id},
        )
        large.pointer["artifact_id"] = str(artifact.id)
    _earlier_usage(session, records, earlier_usage)
    write_own_events(session, customer_id, records.limits.max_payload_bytes, records.events)
    ledger_rows()
    if runs_last:
        _numbered_runs(session, customer_id, records)
        # The deferred checks run here, inside the caller's savepoint: a reference
        # broken meanwhile (a run deleted) fails this batch, not the commit.
        session.execute(_CHECK_RUN_REFERENCES)
    _tasks(session, records.runs)


#: The references to a run (``flightlog.models.DEFERRABLE_FOREIGN_KEYS``), by name: on a
#: partitioned table the name also reaches each partition's copy that exists when the
#: statement runs.
_RUN_REFERENCES = ", ".join(sorted(DEFERRABLE_FOREIGN_KEYS))
_DEFER_RUN_REFERENCES = text(f"SET CONSTRAINTS {_RUN_REFERENCES} DEFERRED")
_CHECK_RUN_REFERENCES = text(f"SET CONSTRAINTS {_RUN_REFERENCES} IMMEDIATE")


def _numbered_runs(session: Session, customer_id: uuid.UUID, records: RecordBuilder) -> None:
    """Lock the tasks that take new runs, then insert the runs (with their sessions)."""
    if not records.runs:
        return
    _lock_tasks(session, sorted({run.task_id for run in records.runs}), refuse_cancelled=True)
    _runs(session, records, _sessions(session, customer_id, records.runs))


def hold_tail_locks(
    session: Session, customer_id: uuid.UUID, task_ids: set[uuid.UUID], conversations: set[str]
) -> None:
    """Take the tail's locks for several batches at once, in the tail's own order.

    For a request recorded trace by trace (after a refused value): each trace's
    tail would lock only its own tasks and conversations, in trace order, while
    every lock lasts until the commit; taken here first, in one order, they
    cannot form a cycle with another request's tail.
    """
    _lock_tasks(session, sorted(task_ids), refuse_cancelled=False)
    lock_names_for_customer(session, "otlp-conversation", customer_id, conversations)


def session_name(conversation: str) -> str:
    """The ``sessions.external_id`` a producer's conversation id is kept under."""
    return fit_external_id(clean_text(conversation))


def _lock_tasks(session: Session, task_ids: list[uuid.UUID], *, refuse_cancelled: bool) -> None:
    """Hold the tasks' rows until the transaction ends, in id order; refuse a cancelled one.

    ``FOR NO KEY UPDATE``: the runs numbered under it and the statistics written
    after it are exact, while other requests' rows that merely refer to these
    tasks (their foreign-key checks take ``KEY SHARE``) are not held up. A task
    cancelled since its reference was resolved takes no new runs.
    """
    query = select(Task.id, Task.status).order_by(Task.id)
    for part in chunks(task_ids):
        for task_id, status in session.execute(
            query.where(Task.id.in_(part)).with_for_update(key_share=True)
        ):
            if refuse_cancelled and status is TaskStatus.CANCELLED:
                raise Conflict(f"task {task_id} was cancelled meanwhile and takes no new runs")


def _sessions(session: Session, customer_id: uuid.UUID, runs: list[NewRun]) -> dict[str, uuid.UUID]:
    """The session of each conversation named, created when new, its activity times widened."""
    spans: dict[str, tuple[datetime, datetime]] = {}
    for run in runs:
        if run.conversation is None:
            continue
        name = session_name(run.conversation)
        start, end = at(run.root.start_time_unix_nano), at(run.root.end_time_unix_nano)
        earlier = spans.get(name)
        spans[name] = (min(start, earlier[0]), max(end, earlier[1])) if earlier else (start, end)
    if not spans:
        return {}
    # Requests naming the same conversation take their turns here (after their tasks'
    # rows, in the tail's order), so each finds what the one before it made.
    lock_names_for_customer(session, "otlp-conversation", customer_id, spans)
    ids: dict[str, uuid.UUID] = {}
    new: list[dict[str, Any]] = []
    found = _held_sessions(session, customer_id, sorted(spans))
    for name, (start, end) in sorted(spans.items()):
        if name in found:
            ids[name] = found[name].id
            continue
        ids[name] = new_uuid()
        new.append(
            {
                "id": ids[name],
                "customer_id": customer_id,
                "external_id": name,
                "started_at": start,
                "last_activity_at": end,
                "details": {"source": SOURCE},
            }
        )
    if new:
        session.execute(insert(AgentSession), new)
    for name, row in found.items():
        start, end = spans[name]
        row.started_at = min(row.started_at or start, start)
        row.last_activity_at = max(row.last_activity_at or end, end)
    return ids


def _held_sessions(
    session: Session, customer_id: uuid.UUID, names: list[str]
) -> dict[str, AgentSession]:
    """The customer's sessions of these conversations (their writers take turns on them)."""
    mine = select(AgentSession).where(AgentSession.customer_id == customer_id)
    return {
        row.external_id: row
        for part in chunks(names)
        for row in session.scalars(mine.where(AgentSession.external_id.in_(part)))
    }


def _runs(session: Session, records: RecordBuilder, sessions: dict[str, uuid.UUID]) -> None:
    """Insert the new runs, numbered per task after the task's last run."""
    if not records.runs:
        return
    task_ids = sorted({run.task_id for run in records.runs})
    last_numbers = select(TaskRun.task_id, func.max(TaskRun.run_number)).group_by(TaskRun.task_id)
    numbers: dict[uuid.UUID, int] = {
        task_id: int(last or 0)
        for part in chunks(task_ids)
        for task_id, last in session.execute(last_numbers.where(TaskRun.task_id.in_(part))).all()
    }
    rows: list[dict[str, Any]] = []
    ordered = sorted(
        records.runs, key=lambda r: (r.task_id, r.root.start_time_unix_nano, r.root.span_id)
    )
    for run in ordered:
        root = run.root
        numbers[run.task_id] = numbers.get(run.task_id, 0) + 1
        status, error_message, error_details = run_outcome(root)
        tokens_in, tokens_out, cost = records.new_run_totals(run.id)
        refuse_total_past_columns("run", NOTHING, (tokens_in, tokens_out, cost))
        started, completed = at(root.start_time_unix_nano), at(root.end_time_unix_nano)
        conversation = session_name(run.conversation) if run.conversation else None
        rows.append(
            {
                "id": run.id,
                "task_id": run.task_id,
                "run_number": numbers[run.task_id],
                "status": status,
                "input_context": {
                    "source": SOURCE,
                    "trace_id": root.trace_id,
                    "service": clean_text(str(root.resource.get("service.name") or ""))[:500]
                    or None,
                },
                "results": run_results(root) if status is RunStatus.COMPLETED else None,
                "error_message": error_message,
                "error_details": error_details,
                "started_at": started,
                "completed_at": completed,
                "duration_seconds": (completed - started).total_seconds(),
                "tokens_in": tokens_in,
                "tokens_out": tokens_out,
                "cost_usd": cost,
                "session_id": sessions.get(conversation) if conversation else None,
                "trace_id": root.trace_id,
                "span_id": root.span_id,
            }
        )
    session.connection().execute(insert(table_of(TaskRun)), rows)


def _earlier_usage(
    session: Session, records: RecordBuilder, usage: dict[uuid.UUID, list[Any]]
) -> None:
    """Late spans of a run recorded by an earlier request: add their usage, roll the run up."""
    new_runs = {run.id for run in records.runs}
    touched = {records.run_of[agent_run_id] for agent_run_id in usage}
    touched |= {row["run_id"] for row in records.agent_runs if row["run_id"] not in new_runs}
    held = select(AgentRun.id, AgentRun.tokens_in, AgentRun.tokens_out, AgentRun.cost_usd)
    for part in chunks(sorted(usage)):
        for agent_run_id, tokens_in, tokens_out, cost in session.execute(
            held.where(AgentRun.id.in_(part))
        ):
            added = usage[agent_run_id]
            refuse_total_past_columns(
                "agent run", (tokens_in, tokens_out, Decimal(cost)), (added[0], added[1], added[2])
            )
    for agent_run_id, (tokens_in, tokens_out, cost) in sorted(usage.items()):
        session.execute(
            update(AgentRun)
            .where(AgentRun.id == agent_run_id)
            .values(
                tokens_in=AgentRun.tokens_in + tokens_in,
                tokens_out=AgentRun.tokens_out + tokens_out,
                cost_usd=AgentRun.cost_usd + cost,
            )
        )
    for run_id in sorted(touched):
        run = session.get(TaskRun, run_id, with_for_update=True)
        if run is not None:
            roll_up_usage(session, run)


def _tasks(session: Session, runs: list[NewRun]) -> None:
    """Each task with new runs: its status follows its latest run, its statistics its runs.

    A few statements per request however many tasks and runs: one aggregate tallies
    their runs (statistics and active runs), one reads the tasks with their latest
    run, one executemany writes the statistics and one reloads the tasks
    (:mod:`flightlog.services.task_statistics`); only a task whose status changes
    costs more (its transitions, which touch no run, so the tally stays true).
    """
    by_task: dict[uuid.UUID, list[NewRun]] = defaultdict(list)
    for run in runs:
        by_task[run.task_id].append(run)
    if not by_task:
        return
    tallies = tally_runs(session, by_task)
    for task, latest_status, latest_completed in _with_latest_runs(session, sorted(by_task)):
        target, since = _status_after(
            task, tallies[task.id].active, latest_status, latest_completed
        )
        # Only a change of status is a transition: a task that stays COMPLETED while
        # finished runs are added to it is not run again and again.
        if task.status is not target:
            if task.status is not TaskStatus.RUNNING:
                first = min(by_task[task.id], key=lambda r: r.root.start_time_unix_nano)
                transition_task(
                    session, task, TaskStatus.RUNNING, at=at(first.root.start_time_unix_nano)
                )
            if target is not TaskStatus.RUNNING:
                transition_task(session, task, target, at=since)
    write_statistics(session, tallies)


def _latest(column: InstrumentedAttribute[Any]) -> ScalarSelect[Any]:
    """The column of the task's latest run by start (ties by id), whatever the arrival order."""
    return (
        select(column)
        .where(TaskRun.task_id == Task.id)
        .order_by(TaskRun.started_at.desc(), TaskRun.id.desc())
        .limit(1)
        .correlate(Task)
        .scalar_subquery()
    )


# Built once: every request runs it.
_LATEST_RUNS = select(Task, _latest(TaskRun.status), _latest(TaskRun.completed_at)).where(
    Task.id.in_(bindparam("task_ids", expanding=True))
)


def _with_latest_runs(
    session: Session, task_ids: list[uuid.UUID]
) -> list[tuple[Task, RunStatus | None, datetime | None]]:
    """Each task (in id order) with its latest run's status and end."""
    found = {
        row[0].id: (row[0], row[1], row[2])
        for part in chunks(task_ids)
        for row in session.execute(_LATEST_RUNS, {"task_ids": part}).all()
    }
    # Every task was locked when its reference was resolved, so none has gone.
    return [found[task_id] for task_id in task_ids]


def _status_after(
    task: Task, active: int, latest_status: RunStatus | None, latest_completed: datetime | None
) -> tuple[TaskStatus, datetime | None]:
    """The status the task's runs give it: RUNNING while one is active, else its latest's."""
    if active:
        return TaskStatus.RUNNING, None
    if latest_status is None:
        return task.status, None
    # As the run service does: a cancelled latest run leaves the task waiting again.
    return FINISHED_RUN_TO_TASK.get(latest_status, TaskStatus.PENDING), latest_completed

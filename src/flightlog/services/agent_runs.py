"""Agent runs: one agent's (role's) part of a run, nestable, with token and cost usage.

A run's ``tokens_in``, ``tokens_out`` and ``cost_usd`` are the sums over its
agent runs. They are recomputed from the agent runs whenever one finishes or
reports usage, with the run row locked, so they stay exact under concurrency.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flightlog.enums import AgentRunStatus, EventType
from flightlog.errors import Conflict, NotFound, ValidationError
from flightlog.models import AgentRun, Event, Task, TaskRun
from flightlog.services._common import (
    get_owned,
    measured_time,
    member,
    not_before,
    not_found,
    require,
    utc_now,
)
from flightlog.services.chosen_ids import chosen_id
from flightlog.services.lifecycle import (
    ACTIVE_RUN_STATUSES,
    AGENT_RUN_LIFECYCLE,
    TASK_LIFECYCLE,
    move,
)
from flightlog.services.ownership import assert_owned

#: The cost columns are NUMERIC(14, 6): eight digits before the point.
MAX_COST_USD = 10**8
#: The most tokens an agent run's or a run's total holds (their columns are INTEGER).
MAX_TOKEN_TOTAL = 2**31 - 1


def _decimal(value: Decimal | float | int | str, name: str) -> Decimal:
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationError(f"{name} must be a number, got {value!r}") from None
    require(result.is_finite() and result >= 0, f"{name} cannot be negative")
    require(result < MAX_COST_USD, f"{name} must be less than {MAX_COST_USD:,} USD")
    return result


def _owned_run(session: Session, run_id: uuid.UUID, customer_id: uuid.UUID) -> TaskRun:
    return get_owned(session, TaskRun, run_id, customer_id=customer_id)


def start_agent_run(
    session: Session,
    customer_id: uuid.UUID,
    /,
    run_id: uuid.UUID,
    *,
    agent_name: str,
    parent_id: uuid.UUID | None = None,
    agent_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
    started_at: datetime | None = None,
    id: uuid.UUID | str | None = None,
) -> AgentRun:
    """Record that an agent started its part of an active run (AGENT_START event).

    ``started_at`` is for a caller that measured the start itself (timezone-aware);
    ``id`` for one moving existing data in (:class:`Conflict` when it is taken).
    """
    at = measured_time(started_at, "started_at") if started_at is not None else None
    _check_name(agent_name)
    run = _owned_run(session, run_id, customer_id)
    assert_owned(session, customer_id, agent_ids=[agent_id])
    if run.status not in ACTIVE_RUN_STATUSES:
        raise Conflict(f"run {run_id} is {run.status}; agents can only join an active run")
    if at is not None:
        not_before(at, run.started_at, "an agent run's started_at", field="started_at")
    _check_parent(session, customer_id, parent_id, run_id, "run")
    return _start(
        session,
        customer_id,
        task_id=run.task_id,
        run_id=run_id,
        agent_name=agent_name,
        parent_id=parent_id,
        agent_id=agent_id,
        details=details,
        at=at,
        chosen=chosen_id(session, AgentRun, id),
    )


def start_task_agent_run(
    session: Session,
    customer_id: uuid.UUID,
    /,
    task_id: uuid.UUID,
    *,
    agent_name: str,
    parent_id: uuid.UUID | None = None,
    agent_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
    started_at: datetime | None = None,
    id: uuid.UUID | str | None = None,
) -> AgentRun:
    """Record an agent's part of a task that has no run (seed 001: agent runs per task).

    The agent run belongs to the task alone (``run_id`` is None): no run is
    started for it, so the task's run statistics and status stay as they are
    (the caller moves the task, as seed 001 does). It is finished, given usage
    and listed like any other agent run; nested ones (``parent_id``) must be run-
    less agent runs of the same task too. A cancelled task takes no new agent
    runs (:class:`Conflict`), and cancelling a task cancels its unfinished ones.
    """
    at = measured_time(started_at, "started_at") if started_at is not None else None
    _check_name(agent_name)
    task = get_owned(session, Task, task_id, customer_id=customer_id, for_update=True, no_key=True)
    assert_owned(session, customer_id, agent_ids=[agent_id])
    if TASK_LIFECYCLE.terminal(task.status):
        raise Conflict(f"task {task_id} is {task.status}; it takes no new agent runs")
    _check_parent(session, customer_id, parent_id, None, "task", task_id=task_id)
    return _start(
        session,
        customer_id,
        task_id=task_id,
        run_id=None,
        agent_name=agent_name,
        parent_id=parent_id,
        agent_id=agent_id,
        details=details,
        at=at,
        chosen=chosen_id(session, AgentRun, id),
    )


def _check_name(agent_name: str) -> None:
    require(
        isinstance(agent_name, str) and 0 < len(agent_name.strip()) <= 100,
        "agent_name must be 1 to 100 characters",
    )


def _check_parent(
    session: Session,
    customer_id: uuid.UUID,
    parent_id: uuid.UUID | None,
    run_id: uuid.UUID | None,
    where: str,
    *,
    task_id: uuid.UUID | None = None,
) -> None:
    """A nested agent run's parent is the caller's, in the same run (or the same task, run-less).

    Another tenant's agent run is NotFound, like a missing one; only one of the
    caller's own can be "of another run".
    """
    if parent_id is None:
        return
    parent = get_owned(session, AgentRun, parent_id, customer_id=customer_id)
    if parent.run_id != run_id or (task_id is not None and parent.task_id != task_id):
        raise ValidationError(
            f"a nested agent run must belong to the same {where} as its parent"
            + (" and, like it, to no run" if run_id is None else "")
        )


def _start(
    session: Session,
    customer_id: uuid.UUID,
    *,
    task_id: uuid.UUID,
    run_id: uuid.UUID | None,
    agent_name: str,
    parent_id: uuid.UUID | None,
    agent_id: uuid.UUID | None,
    details: dict[str, Any] | None,
    at: datetime | None,
    chosen: uuid.UUID | None,
) -> AgentRun:
    """Insert the agent run and its AGENT_START event (checks done by the caller)."""
    agent_run = AgentRun(
        task_id=task_id,
        run_id=run_id,
        parent_id=parent_id,
        agent_id=agent_id,
        agent_name=agent_name,
        status=AgentRunStatus.STARTED,
        started_at=at or utc_now(),
        details=details or {},
    )
    if chosen is not None:
        agent_run.id = chosen
    session.add(agent_run)
    session.flush()
    started = Event(
        event_type=EventType.AGENT_START,
        customer_id=customer_id,
        task_id=task_id,
        run_id=run_id,
        agent_run_id=agent_run.id,
        agent_id=agent_id,
        agent_role=agent_name,
        content=f"{agent_name} started",
        # The step's own instant, not the database clock's (which PostgreSQL fixes at the
        # transaction's start and SQLite rounds to milliseconds), so the timeline never
        # shows a step's AGENT_START before the step itself.
        created_at=agent_run.started_at,
    )
    session.add(started)
    session.flush()
    return agent_run


def _lock(
    session: Session, agent_run_id: uuid.UUID, customer_id: uuid.UUID
) -> tuple[TaskRun | None, AgentRun]:
    """The customer's agent run and its run (None when it has none), locked.

    An agent run of a run locks the run (whose totals it changes); a run-less one
    locks its task, as run changes do first (one lock order: task, run, agent
    run). NotFound names only the agent run.
    """
    agent_run = get_owned(session, AgentRun, agent_run_id, customer_id=customer_id)
    run: TaskRun | None = None
    try:
        if agent_run.run_id is None:
            get_owned(
                session,
                Task,
                agent_run.task_id,
                customer_id=customer_id,
                for_update=True,
                no_key=True,
            )
        else:
            run = get_owned(
                session, TaskRun, agent_run.run_id, customer_id=customer_id, for_update=True
            )
    except NotFound:
        raise not_found(AgentRun, agent_run_id) from None
    locked = session.get(AgentRun, agent_run_id, populate_existing=True)
    if locked is None:
        raise not_found(AgentRun, agent_run_id)
    return run, locked


def _refuse_overflowing_totals(
    agent_run: AgentRun, run: TaskRun | None, tokens_in: int, tokens_out: int, cost: Decimal
) -> None:
    """Refuse usage that would take the agent run's or its run's totals past their columns."""
    holders: list[tuple[str, AgentRun | TaskRun]] = [("agent run", agent_run)]
    if run is not None:
        holders.append(("run", run))
    for what, holder in holders:
        refuse_total_past_columns(
            what,
            (holder.tokens_in, holder.tokens_out, Decimal(holder.cost_usd)),
            (tokens_in, tokens_out, cost),
        )


#: Tokens in, tokens out and cost: an agent run's or a run's usage, held or added.
Usage = tuple[int, int, Decimal]


def refuse_total_past_columns(what: str, held: Usage, added: Usage) -> None:
    """Refuse adding ``added`` to ``held`` when a total would pass its column.

    Costs are NUMERIC(14, 6) (under MAX_COST_USD) and tokens INTEGER (MAX_TOKEN_TOTAL):
    a sum past them would be PostgreSQL's overflow error, and on SQLite, whose
    integers are wider, a total no other path could write. So it is refused by
    name on both, here and in span ingest (:mod:`flightlog.otlp.writer`).
    """
    total = held[2]
    require(
        total + added[2] < MAX_COST_USD,
        f"total cost_usd would reach {MAX_COST_USD:,} USD or more: the {what} has "
        f"{total}, adding {added[2]}",
        field="cost_usd",
    )
    for name, had, more in (("tokens_in", held[0], added[0]), ("tokens_out", held[1], added[1])):
        require(
            had + more <= MAX_TOKEN_TOTAL,
            f"total {name} would pass {MAX_TOKEN_TOTAL:,}: the {what} has {had}, adding {more}",
            field=name,
        )


def roll_up_usage(session: Session, run: TaskRun) -> None:
    """Set the run's token and cost totals to the sum of its agent runs' (kept exact so)."""
    totals = (
        session.execute(
            select(
                func.coalesce(func.sum(AgentRun.tokens_in), 0),
                func.coalesce(func.sum(AgentRun.tokens_out), 0),
                func.coalesce(func.sum(AgentRun.cost_usd), 0),
            ).where(AgentRun.run_id == run.id)
        )
    ).one()
    summed = (int(totals[0]), int(totals[1]), Decimal(str(totals[2])))
    held = (run.tokens_in, run.tokens_out, Decimal(run.cost_usd))
    refuse_total_past_columns(
        "run", held, (summed[0] - held[0], summed[1] - held[1], summed[2] - held[2])
    )
    run.tokens_in, run.tokens_out, run.cost_usd = summed
    session.flush()


def record_usage(
    session: Session,
    customer_id: uuid.UUID,
    /,
    agent_run_id: uuid.UUID,
    *,
    tokens_in: int = 0,
    tokens_out: int = 0,
    cost_usd: Decimal | float | int | str = 0,
) -> AgentRun:
    """Add LLM usage to a running agent run (and so to its run's totals)."""
    require(tokens_in >= 0 and tokens_out >= 0, "token counts cannot be negative")
    cost = _decimal(cost_usd, "cost_usd")
    run, agent_run = _lock(session, agent_run_id, customer_id)
    if AGENT_RUN_LIFECYCLE.terminal(agent_run.status):
        raise Conflict(f"agent run {agent_run_id} already finished ({agent_run.status})")
    _refuse_overflowing_totals(agent_run, run, tokens_in, tokens_out, cost)
    agent_run.tokens_in += tokens_in
    agent_run.tokens_out += tokens_out
    agent_run.cost_usd = Decimal(agent_run.cost_usd) + cost
    session.flush()
    if run is not None:
        roll_up_usage(session, run)
    return agent_run


def mark_running(session: Session, customer_id: uuid.UUID, /, agent_run_id: uuid.UUID) -> AgentRun:
    """STARTED -> RUNNING."""
    _, agent_run = _lock(session, agent_run_id, customer_id)
    move(
        session,
        AGENT_RUN_LIFECYCLE,
        agent_run,
        AgentRunStatus.RUNNING,
        customer_id=customer_id,
        task_id=agent_run.task_id,
        run_id=agent_run.run_id,
        agent_run_id=agent_run.id,
    )
    session.flush()
    return agent_run


def finish_agent_run(
    session: Session,
    customer_id: uuid.UUID,
    /,
    agent_run_id: uuid.UUID,
    *,
    status: AgentRunStatus = AgentRunStatus.COMPLETED,
    output_summary: str | None = None,
    error_message: str | None = None,
    tokens_in: int = 0,
    tokens_out: int = 0,
    cost_usd: Decimal | float | int | str = 0,
    finished_at: datetime | None = None,
) -> AgentRun:
    """End an agent's part (AGENT_COMPLETE event) and roll its usage up into the run.

    ``finished_at`` is for a caller that measured the end itself (timezone-aware,
    not before the agent run started).
    """
    at = measured_time(finished_at, "finished_at") if finished_at is not None else None
    status = member(AgentRunStatus, status, "status")
    require(tokens_in >= 0 and tokens_out >= 0, "token counts cannot be negative")
    cost = _decimal(cost_usd, "cost_usd")
    run, agent_run = _lock(session, agent_run_id, customer_id)
    AGENT_RUN_LIFECYCLE.check(agent_run.status, status)
    if not AGENT_RUN_LIFECYCLE.terminal(status):
        raise ValidationError(f"{status} is not a finishing status")
    if at is not None:
        not_before(at, agent_run.started_at, "finished_at")
    # Audited by the AGENT_COMPLETE event below rather than a STATUS_CHANGE.
    AGENT_RUN_LIFECYCLE.assign(agent_run, status, at=at)
    agent_run.output_summary = output_summary
    agent_run.error_message = error_message
    _refuse_overflowing_totals(agent_run, run, tokens_in, tokens_out, cost)
    agent_run.tokens_in += tokens_in
    agent_run.tokens_out += tokens_out
    agent_run.cost_usd = Decimal(agent_run.cost_usd) + cost
    completed = Event(
        event_type=EventType.AGENT_COMPLETE,
        customer_id=customer_id,
        task_id=agent_run.task_id,
        run_id=agent_run.run_id,
        agent_run_id=agent_run.id,
        agent_id=agent_run.agent_id,
        agent_role=agent_run.agent_name,
        content=output_summary or f"{agent_run.agent_name} {status.value.lower()}",
        data={
            "status": status.value,
            "tokens_in": agent_run.tokens_in,
            "tokens_out": agent_run.tokens_out,
            "cost_usd": str(agent_run.cost_usd),
        },
    )
    # At the step's end exactly, like AGENT_START at its start.
    completed.created_at = agent_run.finished_at or utc_now()
    session.add(completed)
    session.flush()
    if run is not None:
        roll_up_usage(session, run)
    return agent_run


def list_agent_runs(
    session: Session, customer_id: uuid.UUID, /, run_id: uuid.UUID
) -> list[AgentRun]:
    """A run's agent runs in start order (the timeline of who did what)."""
    _owned_run(session, run_id, customer_id)
    stmt = (
        select(AgentRun).where(AgentRun.run_id == run_id).order_by(AgentRun.started_at, AgentRun.id)
    )
    return list((session.scalars(stmt)).all())

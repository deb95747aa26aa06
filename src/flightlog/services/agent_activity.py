"""What an agent has done: the runs it took part in, its error rates, tokens and cost.

An agent takes part in a run when the run was started for it (``TaskRun.agent_id``)
or when it took a step in it (an agent run with its ``agent_id``). Tokens and cost
are its own steps' (a run's totals are the sums over every agent's steps, so they
would count the others' work too). Error rates follow the overview's success
rate: failures among the outcomes that say something about the work (a
cancelled run or step is neither a success nor an error).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select, union
from sqlalchemy.orm import Session

from flightlog.enums import AgentRunStatus, RunStatus
from flightlog.models import Agent, AgentRun, Task, TaskRun
from flightlog.services._common import get_owned, require

MAX_PAGE_SIZE = 500

_FAILED_RUNS = (RunStatus.FAILED, RunStatus.TIMEOUT)
_FINISHED_RUNS = (RunStatus.COMPLETED, *_FAILED_RUNS)
_FINISHED_STEPS = (AgentRunStatus.COMPLETED, AgentRunStatus.FAILED)


@dataclass(frozen=True)
class AgentWork:
    """One run the agent took part in, with its own share of the run."""

    run_id: uuid.UUID
    task_id: uuid.UUID
    task_title: str
    run_number: int
    status: RunStatus
    started_at: datetime | None
    duration_seconds: float | None
    led: bool
    steps: int
    failed_steps: int
    tokens_in: int
    tokens_out: int
    cost_usd: Decimal


@dataclass(frozen=True)
class AgentActivity:
    """An agent's totals and a page of its runs, newest first.

    ``run_error_rate`` is failed and timed-out runs among completed, failed and
    timed-out ones; ``step_error_rate`` failed steps among completed and failed
    ones; ``None`` without any. Pass ``next_cursor`` back as ``cursor`` for older runs.
    """

    agent_id: uuid.UUID
    runs: int
    finished_runs: int
    failed_runs: int
    steps: int
    finished_steps: int
    failed_steps: int
    tokens_in: int
    tokens_out: int
    cost_usd: Decimal
    last_active_at: datetime | None
    recent: list[AgentWork]
    next_cursor: uuid.UUID | None
    previous_cursor: uuid.UUID | None = None
    #: How many of its runs are newer than this page's first.
    offset: int = 0

    @property
    def run_error_rate(self) -> float | None:
        return self.failed_runs / self.finished_runs if self.finished_runs else None

    @property
    def step_error_rate(self) -> float | None:
        return self.failed_steps / self.finished_steps if self.finished_steps else None


def _runs_of(customer_id: uuid.UUID, agent_id: uuid.UUID) -> Select[Any]:
    """The ids of the customer's runs the agent led or took a step in."""
    led = (
        select(TaskRun.id.label("run_id"))
        .join(Task, Task.id == TaskRun.task_id)
        .where(TaskRun.agent_id == agent_id, Task.customer_id == customer_id)
    )
    stepped = (
        select(AgentRun.run_id.label("run_id"))
        .join(Task, Task.id == AgentRun.task_id)
        .where(
            AgentRun.agent_id == agent_id,
            AgentRun.run_id.is_not(None),
            Task.customer_id == customer_id,
        )
    )
    return select(union(led, stepped).subquery().c.run_id)


def agent_activity(
    session: Session,
    customer_id: uuid.UUID,
    /,
    agent_id: uuid.UUID,
    *,
    cursor: uuid.UUID | None = None,
    before: uuid.UUID | None = None,
    limit: int = 20,
) -> AgentActivity:
    """The agent's runs (newest first, ``limit`` at a time) and totals.

    ``cursor`` (a page's ``next_cursor``) reads on to older runs, ``before`` (its
    ``previous_cursor``) back to newer ones; ``offset`` is how many newer runs precede
    the page, so "21-40 of 73" can be shown. Another customer's agent is
    :class:`NotFound`, as a missing one.
    """
    require(1 <= limit <= MAX_PAGE_SIZE, f"limit must be between 1 and {MAX_PAGE_SIZE}")
    require(cursor is None or before is None, "give cursor (older runs) or before (newer ones)")
    get_owned(session, Agent, agent_id, customer_id=customer_id)
    run_ids = _runs_of(customer_id, agent_id)
    by_status: dict[RunStatus, int] = {
        status: int(count)
        for status, count in session.execute(
            select(TaskRun.status, func.count(TaskRun.id))
            .where(TaskRun.id.in_(run_ids))
            .group_by(TaskRun.status)
        ).all()
    }
    step_rows = session.execute(
        select(
            AgentRun.status,
            func.count(AgentRun.id),
            func.coalesce(func.sum(AgentRun.tokens_in), 0),
            func.coalesce(func.sum(AgentRun.tokens_out), 0),
            func.coalesce(func.sum(AgentRun.cost_usd), 0),
            func.max(AgentRun.started_at),
        )
        .join(Task, Task.id == AgentRun.task_id)
        .where(AgentRun.agent_id == agent_id, Task.customer_id == customer_id)
        .group_by(AgentRun.status)
    ).all()
    steps_by_status = {row[0]: int(row[1]) for row in step_rows}
    last_step = max((row[5] for row in step_rows if row[5] is not None), default=None)
    page = select(TaskRun, Task.title).join(Task, Task.id == TaskRun.task_id)
    page = page.where(TaskRun.id.in_(run_ids))
    if before is not None:
        newer = page.where(TaskRun.id > before).order_by(TaskRun.id.asc()).limit(limit + 1)
        found = list(session.execute(newer).all())
        shown = list(reversed(found[:limit]))
        more_older, more_newer = True, len(found) > limit
    else:
        if cursor is not None:
            page = page.where(TaskRun.id < cursor)
        found = list(session.execute(page.order_by(TaskRun.id.desc()).limit(limit + 1)).all())
        shown = found[:limit]
        more_older, more_newer = len(found) > limit, cursor is not None
    offset = 0
    if shown:
        ids = run_ids.subquery()
        newer_count = select(func.count()).select_from(ids).where(ids.c.run_id > shown[0][0].id)
        offset = int(session.scalar(newer_count) or 0)
    recent = _work(session, agent_id, [(row[0], row[1]) for row in shown])
    last_run = max((run.started_at for run, _ in shown if run.started_at), default=None)
    return AgentActivity(
        agent_id=agent_id,
        runs=sum(by_status.values()),
        finished_runs=sum(by_status.get(s, 0) for s in _FINISHED_RUNS),
        failed_runs=sum(by_status.get(s, 0) for s in _FAILED_RUNS),
        steps=sum(steps_by_status.values()),
        finished_steps=sum(steps_by_status.get(s, 0) for s in _FINISHED_STEPS),
        failed_steps=steps_by_status.get(AgentRunStatus.FAILED, 0),
        tokens_in=sum(int(row[2]) for row in step_rows),
        tokens_out=sum(int(row[3]) for row in step_rows),
        cost_usd=sum((Decimal(str(row[4])) for row in step_rows), Decimal(0)),
        last_active_at=max((t for t in (last_step, last_run) if t is not None), default=None),
        recent=recent,
        next_cursor=shown[-1][0].id if shown and more_older else None,
        previous_cursor=shown[0][0].id if shown and more_newer else None,
        offset=offset,
    )


def _work(
    session: Session, agent_id: uuid.UUID, runs: list[tuple[TaskRun, str]]
) -> list[AgentWork]:
    """Each run with the agent's own steps in it."""
    shares: dict[uuid.UUID, tuple[int, int, int, int, Decimal]] = {}
    if runs:
        rows = session.execute(
            select(
                AgentRun.run_id,
                func.count(AgentRun.id),
                func.count(AgentRun.id).filter(AgentRun.status == AgentRunStatus.FAILED),
                func.coalesce(func.sum(AgentRun.tokens_in), 0),
                func.coalesce(func.sum(AgentRun.tokens_out), 0),
                func.coalesce(func.sum(AgentRun.cost_usd), 0),
            )
            .where(AgentRun.agent_id == agent_id, AgentRun.run_id.in_([r.id for r, _ in runs]))
            .group_by(AgentRun.run_id)
        ).all()
        for run_id, steps, failed, tokens_in, tokens_out, cost in rows:
            shares[run_id] = (
                int(steps),
                int(failed),
                int(tokens_in),
                int(tokens_out),
                Decimal(str(cost)),
            )
    none = (0, 0, 0, 0, Decimal(0))
    return [
        AgentWork(
            run_id=run.id,
            task_id=run.task_id,
            task_title=title,
            run_number=run.run_number,
            status=run.status,
            started_at=run.started_at,
            duration_seconds=run.duration_seconds,
            led=run.agent_id == agent_id,
            steps=shares.get(run.id, none)[0],
            failed_steps=shares.get(run.id, none)[1],
            tokens_in=shares.get(run.id, none)[2],
            tokens_out=shares.get(run.id, none)[3],
            cost_usd=shares.get(run.id, none)[4],
        )
        for run, title in runs
    ]


__all__ = ["AgentActivity", "AgentWork", "agent_activity"]

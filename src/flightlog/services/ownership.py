"""Tenant checks for rows that reference tasks, runs, agent runs, agents and events by id.

Events and metric points are written in bulk; checking each reference with
its own query would cost a round trip per row. These checks take the set of
distinct ids of a batch and verify them in one query per kind.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flightlog.errors import NotFound
from flightlog.models import Agent, AgentRun, Event, Task, TaskRun

Owned = type[Task] | type[TaskRun] | type[AgentRun] | type[Agent] | type[Event]


def _count_owned(session: Session, model: Owned, ids: set[Any], customer_id: uuid.UUID) -> int:
    if model is Task:
        stmt = select(func.count(Task.id)).where(Task.id.in_(ids), Task.customer_id == customer_id)
    elif model is TaskRun:
        stmt = select(func.count(TaskRun.id)).join(Task, Task.id == TaskRun.task_id)
        stmt = stmt.where(TaskRun.id.in_(ids), Task.customer_id == customer_id)
    elif model is AgentRun:
        stmt = select(func.count(AgentRun.id)).join(Task, Task.id == AgentRun.task_id)
        stmt = stmt.where(AgentRun.id.in_(ids), Task.customer_id == customer_id)
    elif model is Agent:
        stmt = select(func.count(Agent.id)).where(
            Agent.id.in_(ids), Agent.customer_id == customer_id
        )
    else:
        stmt = select(func.count(Event.id)).where(
            Event.id.in_(ids), Event.customer_id == customer_id
        )
    return int(session.scalar(stmt) or 0)


def assert_owned(
    session: Session,
    customer_id: uuid.UUID,
    *,
    task_ids: Iterable[uuid.UUID | None] = (),
    run_ids: Iterable[uuid.UUID | None] = (),
    agent_run_ids: Iterable[uuid.UUID | None] = (),
    agent_ids: Iterable[uuid.UUID | None] = (),
    event_ids: Iterable[int | None] = (),
) -> None:
    """Raise :class:`NotFound` unless every given id exists and belongs to the customer."""
    kinds: tuple[tuple[Owned, Iterable[Any]], ...] = (
        (Task, task_ids),
        (TaskRun, run_ids),
        (AgentRun, agent_run_ids),
        (Agent, agent_ids),
        (Event, event_ids),
    )
    for model, raw in kinds:
        ids = {value for value in raw if value is not None}
        if ids and _count_owned(session, model, ids, customer_id) != len(ids):
            raise NotFound(
                f"one or more {model.__name__} ids do not exist for this customer",
                entity=model.__name__,
            )

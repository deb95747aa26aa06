"""Agents (seeds 002, 004): idempotent registration, heartbeats and derived health.

The stored status records what the agent *said* (registered, alive, stopped);
whether it is healthy *now* depends on how long ago it last said so. That
part is derived from ``last_heartbeat_at`` at read time, never written by a
sweeper: a crashed agent cannot report its own failure, and a periodic job
that marks agents FAILED would be one more thing to run and to go wrong.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, or_, select
from sqlalchemy.orm import Session

from flightlog.enums import AgentStatus, AgentType
from flightlog.errors import Conflict, ValidationError
from flightlog.models import Agent
from flightlog.services import events
from flightlog.services._common import get_or_raise, require, utc_now
from flightlog.services._dialect import json_array_contains, lock_for_customer
from flightlog.services.lifecycle import AGENT_LIFECYCLE, move

DEFAULT_DEGRADED_AFTER_SECONDS = 60.0
DEFAULT_FAILED_AFTER_SECONDS = 300.0


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _thresholds(
    degraded_after: float | timedelta, failed_after: float | timedelta
) -> tuple[float, float]:
    degraded, failed = _seconds(degraded_after), _seconds(failed_after)
    require(degraded > 0, "degraded_after must be positive")
    require(failed >= degraded, "failed_after must not be shorter than degraded_after")
    return degraded, failed


def effective_status(
    agent: Agent,
    now: datetime,
    degraded_after: float | timedelta = DEFAULT_DEGRADED_AFTER_SECONDS,
    failed_after: float | timedelta = DEFAULT_FAILED_AFTER_SECONDS,
) -> AgentStatus:
    """The agent's health at ``now``, from the age of its last heartbeat.

    The boundaries are the ones :func:`list_agents` filters on in SQL: a
    heartbeat exactly ``degraded_after`` old is already DEGRADED.
    """
    degraded, failed = _thresholds(degraded_after, failed_after)
    if agent.status is AgentStatus.STOPPED:
        return AgentStatus.STOPPED
    if agent.last_heartbeat_at is None:
        return AgentStatus.STARTING
    age = (now - agent.last_heartbeat_at).total_seconds()
    if age < degraded:
        return AgentStatus.HEALTHY
    if age < failed:
        return AgentStatus.DEGRADED
    return AgentStatus.FAILED


def _status_condition(
    status: AgentStatus, now: datetime, degraded: float, failed: float
) -> ColumnElement[bool]:
    """SQL twin of :func:`effective_status` for one derived status."""
    if status is AgentStatus.STOPPED:
        return Agent.status == AgentStatus.STOPPED
    live = Agent.status != AgentStatus.STOPPED
    beat = Agent.last_heartbeat_at
    degraded_cutoff = now - timedelta(seconds=degraded)
    failed_cutoff = now - timedelta(seconds=failed)
    if status is AgentStatus.STARTING:
        return and_(live, beat.is_(None))
    if status is AgentStatus.HEALTHY:
        return and_(live, beat > degraded_cutoff)
    if status is AgentStatus.DEGRADED:
        return and_(live, beat <= degraded_cutoff, beat > failed_cutoff)
    return and_(live, beat <= failed_cutoff)


def _agent_type(value: Any) -> AgentType:
    try:
        return AgentType(value)
    except ValueError:
        raise ValidationError(
            f"unknown agent type {value!r}; expected one of {', '.join(AgentType)}"
        ) from None


def _agent_status(value: Any) -> AgentStatus:
    try:
        return AgentStatus(value)
    except ValueError:
        raise ValidationError(
            f"unknown agent status {value!r}; expected one of {', '.join(AgentStatus)}"
        ) from None


def _clean_capabilities(capabilities: Iterable[str]) -> list[str]:
    require(
        not isinstance(capabilities, str), "capabilities must be a list of strings, not a string"
    )
    values = list(capabilities)
    require(
        all(isinstance(c, str) and 0 < len(c.strip()) <= 100 for c in values),
        "each capability must be a string of 1 to 100 characters",
    )
    return list(dict.fromkeys(c.strip() for c in values))


def _validate_registration(name: Any, version: Any, endpoint: Any, config: Any, role: Any) -> None:
    require(
        isinstance(name, str) and 0 < len(name.strip()) <= 255,
        "agent name must be 1 to 255 characters",
    )
    require(
        version is None or (isinstance(version, str) and len(version) <= 64),
        "version must be at most 64 characters",
    )
    require(
        endpoint is None or (isinstance(endpoint, str) and len(endpoint) <= 500),
        "endpoint must be at most 500 characters",
    )
    require(config is None or isinstance(config, dict), "config must be a JSON object")
    require(
        role is None or (isinstance(role, str) and len(role) <= 100),
        "role must be at most 100 characters",
    )


def _transition(
    session: Session,
    agent: Agent,
    target: AgentStatus,
    *,
    actor: str | None,
    data: dict[str, Any] | None = None,
) -> None:
    move(
        session,
        AGENT_LIFECYCLE,
        agent,
        target,
        customer_id=agent.customer_id,
        agent_id=agent.id,
        actor=actor,
        data=data,
    )


def _locked(session: Session, agent_id: uuid.UUID, customer_id: uuid.UUID) -> Agent:
    """The agent, locked and freshly read, or :class:`NotFound`."""
    return get_or_raise(session, Agent, agent_id, customer_id=customer_id, for_update=True)


def register(
    session: Session,
    customer_id: uuid.UUID,
    /,
    name: str,
    agent_type: AgentType | str,
    *,
    capabilities: Iterable[str] = (),
    version: str | None = None,
    endpoint: str | None = None,
    config: dict[str, Any] | None = None,
    role: str | None = None,
    actor: str | None = None,
) -> Agent:
    """Register an agent, or re-register the one of that name and keep its id.

    Agents register on every start, so a second registration is the normal
    case, not a conflict: it refreshes type, capabilities and version (and
    endpoint, config, role when given). A STOPPED agent that registers again
    is STARTING, with no heartbeat until it sends one.
    """
    _validate_registration(name, version, endpoint, config, role)
    kind = _agent_type(agent_type)
    clean_capabilities = _clean_capabilities(capabilities)
    clean_name = name.strip()
    # Two processes of one agent starting at once must not both insert.
    lock_for_customer(session, "agent-registration", customer_id)
    agent = session.scalar(
        select(Agent)
        .where(Agent.customer_id == customer_id, Agent.name == clean_name)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if agent is None:
        agent = Agent(
            customer_id=customer_id,
            name=clean_name,
            agent_type=kind,
            capabilities=clean_capabilities,
            version=version,
            endpoint=endpoint,
            config=dict(config or {}),
            role=role,
            status=AgentStatus.STARTING,
        )
        session.add(agent)
        session.flush()
        events.record_transition(
            session,
            entity=AGENT_LIFECYCLE.entity,
            entity_id=agent.id,
            from_status=None,
            to_status=AgentStatus.STARTING,
            customer_id=customer_id,
            agent_id=agent.id,
            actor=actor,
            data={"agent_type": kind.value, "version": version},
        )
        session.flush()
        return agent
    agent.agent_type = kind
    agent.capabilities = clean_capabilities
    agent.version = version
    if endpoint is not None:
        agent.endpoint = endpoint
    if config is not None:
        agent.config = dict(config)
    if role is not None:
        agent.role = role
    if agent.status is AgentStatus.STOPPED:
        agent.last_heartbeat_at = None
        _transition(session, agent, AgentStatus.STARTING, actor=actor, data={"version": version})
    session.flush()
    return agent


def get_agent(session: Session, customer_id: uuid.UUID, /, agent_id: uuid.UUID) -> Agent:
    """The agent, or :class:`NotFound` (also for another customer's agent)."""
    return get_or_raise(session, Agent, agent_id, customer_id=customer_id)


def get_agent_status(
    session: Session,
    customer_id: uuid.UUID,
    /,
    agent_id: uuid.UUID,
    *,
    now: datetime | None = None,
    degraded_after: float | timedelta = DEFAULT_DEGRADED_AFTER_SECONDS,
    failed_after: float | timedelta = DEFAULT_FAILED_AFTER_SECONDS,
) -> AgentStatus:
    """The agent's derived health at ``now`` (default: now): :func:`effective_status`.

    ``store.agents.status`` takes the thresholds from the Store's settings
    unless the call gives them.
    """
    agent = get_agent(session, customer_id, agent_id)
    return effective_status(agent, now or utc_now(), degraded_after, failed_after)


def heartbeat(session: Session, customer_id: uuid.UUID, /, agent_id: uuid.UUID) -> Agent:
    """Record that the agent is alive now.

    Only a change of stored status is audited: an event per heartbeat would
    bury the log under noise. A STOPPED agent is a :class:`Conflict`: it said
    it was gone, and must register again to be counted alive.
    """
    agent = _locked(session, agent_id, customer_id)
    if agent.status is AgentStatus.STOPPED:
        raise Conflict(
            f"agent {agent.name} is STOPPED; register it again before sending heartbeats",
            agent_id=str(agent_id),
        )
    agent.last_heartbeat_at = utc_now()
    if agent.status is not AgentStatus.HEALTHY:
        _transition(session, agent, AgentStatus.HEALTHY, actor=agent.name)
    session.flush()
    return agent


def deregister(
    session: Session,
    customer_id: uuid.UUID,
    /,
    agent_id: uuid.UUID,
    *,
    actor: str | None = None,
    reason: str | None = None,
) -> Agent:
    """Mark the agent STOPPED: a clean shutdown, which health checks must not call FAILED."""
    agent = _locked(session, agent_id, customer_id)
    _transition(
        session,
        agent,
        AgentStatus.STOPPED,
        actor=actor,
        data={"reason": reason} if reason else None,
    )
    session.flush()
    return agent


def delete_agent(
    session: Session,
    customer_id: uuid.UUID,
    /,
    agent_id: uuid.UUID,
    *,
    actor: str | None = None,
) -> None:
    """Delete the agent; tasks, runs, events and recommendations keep their rows, with NULL.

    The database does the nulling (``ON DELETE SET NULL``); this records who
    deleted it, in an event that names the agent by id rather than referencing it.
    """
    agent = _locked(session, agent_id, customer_id)
    events.record_audit(
        session,
        entity="Agent",
        entity_id=agent.id,
        action="deleted",
        content=f"Agent {agent.name} deleted",
        customer_id=customer_id,
        actor=actor,
        data={"name": agent.name, "agent_type": agent.agent_type.value},
    )
    session.flush()
    session.execute(delete(Agent).where(Agent.id == agent_id))
    # Rows that referenced the agent were nulled by the database, not by the ORM.
    session.expunge_all()


def list_agents(
    session: Session,
    customer_id: uuid.UUID,
    /,
    *,
    status: AgentStatus | str | Sequence[AgentStatus | str] | None = None,
    capability: str | None = None,
    agent_type: AgentType | str | None = None,
    now: datetime | None = None,
    degraded_after: float | timedelta = DEFAULT_DEGRADED_AFTER_SECONDS,
    failed_after: float | timedelta = DEFAULT_FAILED_AFTER_SECONDS,
) -> list[Agent]:
    """The customer's agents by name; ``status`` filters on the *derived* status.

    The derived status is turned into cutoffs on ``last_heartbeat_at``, so the
    filter runs in SQL on both dialects and agrees with :func:`effective_status`.
    ``store.agents.list`` takes the thresholds from the Store's settings unless
    the call gives them.
    """
    degraded, failed = _thresholds(degraded_after, failed_after)
    stmt = select(Agent).where(Agent.customer_id == customer_id)
    if status is not None:
        wanted = [status] if isinstance(status, AgentStatus | str) else list(status)
        require(bool(wanted), "status filter needs at least one status")
        at = now or utc_now()
        stmt = stmt.where(
            or_(*(_status_condition(_agent_status(s), at, degraded, failed) for s in wanted))
        )
    if capability is not None:
        stmt = stmt.where(json_array_contains(session, Agent.capabilities, capability))
    if agent_type is not None:
        stmt = stmt.where(Agent.agent_type == _agent_type(agent_type))
    return list((session.scalars(stmt.order_by(Agent.name, Agent.id))).all())


__all__ = [
    "delete_agent",
    "deregister",
    "effective_status",
    "get_agent",
    "get_agent_status",
    "heartbeat",
    "list_agents",
    "register",
]

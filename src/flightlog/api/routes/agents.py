"""The agent registry: register (idempotent), heartbeat, list by derived health."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from flightlog.api.auth import TenantStore
from flightlog.enums import AgentStatus, AgentType
from flightlog.models import Agent
from flightlog.schemas.agents import AgentActivityOut, AgentOut, AgentRegistration, Deregistration
from flightlog.services._common import utc_now
from flightlog.services.agent_activity import MAX_PAGE_SIZE
from flightlog.services.agents import effective_status
from flightlog.store.core import Store

router = APIRouter(prefix="/agents", tags=["agents"])


def _out(store: Store, agent: Agent) -> AgentOut:
    settings = store.settings
    health = effective_status(
        agent,
        utc_now(),
        degraded_after=settings.agent_degraded_after_seconds,
        failed_after=settings.agent_failed_after_seconds,
    )
    return AgentOut.model_validate(agent).model_copy(update={"status": health})


@router.post("", response_model=AgentOut)
async def register(body: AgentRegistration, store: TenantStore) -> AgentOut:
    """Register, or re-register the agent of that name keeping its id (agents do so at start)."""
    agent = await store.agents.register(**body.model_dump(exclude_unset=True))
    return _out(store, agent)


@router.get("", response_model=list[AgentOut])
async def list_agents(
    store: TenantStore,
    agent_status: Annotated[list[AgentStatus] | None, Query(alias="status")] = None,
    capability: str | None = None,
    agent_type: AgentType | None = None,
) -> list[AgentOut]:
    """By name; ``status`` filters on the derived health, e.g. ``?status=degraded``."""
    found = await store.agents.list(
        status=agent_status, capability=capability, agent_type=agent_type
    )
    return [_out(store, agent) for agent in found]


@router.get("/{agent_id}", response_model=AgentOut)
async def get_agent(agent_id: uuid.UUID, store: TenantStore) -> AgentOut:
    return _out(store, await store.agents.get(agent_id))


@router.get("/{agent_id}/activity", response_model=AgentActivityOut)
async def activity(
    agent_id: uuid.UUID,
    store: TenantStore,
    cursor: Annotated[uuid.UUID | None, Query(description="next_cursor: older runs.")] = None,
    before: Annotated[
        uuid.UUID | None, Query(description="previous_cursor: newer runs (not with cursor).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
) -> AgentActivityOut:
    """The runs it took part in (newest first), its error rates, tokens and cost."""
    found = await store.agents.activity(agent_id, cursor=cursor, before=before, limit=limit)
    return AgentActivityOut.model_validate(found)


@router.post("/{agent_id}/heartbeat", response_model=AgentOut)
async def heartbeat(agent_id: uuid.UUID, store: TenantStore) -> AgentOut:
    return _out(store, await store.agents.heartbeat(agent_id))


@router.post("/{agent_id}/deregister", response_model=AgentOut)
async def deregister(
    agent_id: uuid.UUID, store: TenantStore, body: Deregistration | None = None
) -> AgentOut:
    """A clean shutdown: STOPPED, which health checks never call FAILED."""
    options = body.model_dump(exclude_none=True) if body is not None else {}
    return _out(store, await store.agents.deregister(agent_id, **options))

"""What workers call: claim tasks, report agent steps, heartbeat, complete or release."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from flightlog.api.auth import TenantStore
from flightlog.api.paging import CountTotal, NextCursor, PreviousCursor
from flightlog.schemas.agent_runs import (
    AgentRunFinish,
    AgentRunOut,
    AgentRunPageOut,
    AgentRunStart,
    Usage,
)
from flightlog.schemas.claims import (
    ClaimComplete,
    ClaimOut,
    ClaimRelease,
    ClaimRequest,
    Heartbeat,
    LeaseOut,
)
from flightlog.schemas.runs import RunOut
from flightlog.services.claims import Claim
from flightlog.services.task_agent_runs import MAX_PAGE_SIZE

router = APIRouter(tags=["workers"])


def _claim(body: ClaimOut) -> Claim:
    return Claim(body.task_id, body.run_id, body.worker, body.lease_expires_at)


@router.post("/claims", response_model=list[ClaimOut])
async def claim(body: ClaimRequest, store: TenantStore) -> list[ClaimOut]:
    """Lease up to ``limit`` ready tasks, highest priority first; an empty list when none is."""
    claims = await store.claims.claim(
        body.worker, lease_seconds=body.lease_seconds, limit=body.limit
    )
    return [ClaimOut.model_validate(c) for c in claims]


@router.post("/claims/heartbeat", response_model=LeaseOut)
async def heartbeat(body: Heartbeat, store: TenantStore) -> LeaseOut:
    """Extend a live lease; 409 once it has expired (another worker may hold the task)."""
    until = await store.claims.heartbeat(
        body.task_id, body.worker, lease_seconds=body.lease_seconds
    )
    return LeaseOut(lease_expires_at=until)


@router.post("/claims/complete", response_model=RunOut)
async def complete(body: ClaimComplete, store: TenantStore) -> RunOut:
    """Finish the claimed run and let the task go; only the live lease holder may."""
    run = await store.claims.complete(
        _claim(body.claim),
        status=body.status,
        results=body.results,
        error_message=body.error_message,
    )
    return RunOut.model_validate(run)


@router.post("/claims/release", status_code=status.HTTP_204_NO_CONTENT)
async def release(body: ClaimRelease, store: TenantStore) -> Response:
    """Give the task back unfinished: its run is cancelled and the task waits again."""
    await store.claims.release(_claim(body.claim), reason=body.reason)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/runs/{run_id}/agent-runs", status_code=status.HTTP_201_CREATED, response_model=AgentRunOut
)
async def start_agent_run(
    run_id: uuid.UUID, body: AgentRunStart, store: TenantStore
) -> AgentRunOut:
    """One agent's step in the run (nested under ``parent_id`` for sub-agents)."""
    return AgentRunOut.model_validate(
        await store.agent_runs.start(run_id, **body.model_dump(exclude_unset=True))
    )


@router.post(
    "/tasks/{task_id}/agent-runs", status_code=status.HTTP_201_CREATED, response_model=AgentRunOut
)
async def start_task_agent_run(
    task_id: uuid.UUID, body: AgentRunStart, store: TenantStore
) -> AgentRunOut:
    """An agent's step for the task alone, in no run (seed 001); the task's runs are untouched."""
    return AgentRunOut.model_validate(
        await store.agent_runs.start_for_task(task_id, **body.model_dump(exclude_unset=True))
    )


@router.get("/tasks/{task_id}/agent-runs", response_model=AgentRunPageOut)
async def list_task_agent_runs(
    task_id: uuid.UUID,
    store: TenantStore,
    cursor: NextCursor = None,
    before: PreviousCursor = None,
    total: CountTotal = False,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> AgentRunPageOut:
    """Every agent run of the task (in its runs or in none) by start time, oldest first."""
    page = await store.agent_runs.list_for_task(
        task_id, cursor=cursor, before=before, total=total, limit=limit
    )
    return AgentRunPageOut.model_validate(page, from_attributes=True)


@router.post("/agent-runs/{agent_run_id}/running", response_model=AgentRunOut)
async def mark_running(agent_run_id: uuid.UUID, store: TenantStore) -> AgentRunOut:
    return AgentRunOut.model_validate(await store.agent_runs.running(agent_run_id))


@router.post("/agent-runs/{agent_run_id}/usage", response_model=AgentRunOut)
async def record_usage(agent_run_id: uuid.UUID, body: Usage, store: TenantStore) -> AgentRunOut:
    """Add tokens and cost as they are spent; the run's totals follow.

    A 422 when the cost would take the agent run's or the run's total to 100,000,000 USD
    or more (what the totals' column holds); nothing is added.
    """
    return AgentRunOut.model_validate(
        await store.agent_runs.record_usage(agent_run_id, **body.model_dump())
    )


@router.post("/agent-runs/{agent_run_id}/finish", response_model=AgentRunOut)
async def finish_agent_run(
    agent_run_id: uuid.UUID, body: AgentRunFinish, store: TenantStore
) -> AgentRunOut:
    return AgentRunOut.model_validate(
        await store.agent_runs.finish(agent_run_id, **body.model_dump())
    )

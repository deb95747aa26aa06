"""Runs of a task: start, read, plan decisions, finish; and their agent runs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from flightlog.api.auth import TenantStore
from flightlog.errors import ValidationError
from flightlog.schemas.agent_runs import AgentRunOut
from flightlog.schemas.events import EventOut
from flightlog.schemas.fields import Time
from flightlog.schemas.runs import (
    PlanDecision,
    RunBegin,
    RunFinish,
    RunOut,
    RunQueue,
    RunStart,
    TimelineEntryOut,
    TimelineOut,
)
from flightlog.services.timeline import TimelineCursor

router = APIRouter(tags=["runs"])
#: A rule across parameters, which OpenAPI cannot state: a partial cursor is refused (422).
_CURSOR = "The previous page's `next`: give after_at, after_kind and after_key together."
#: An agent run's id or an event's id, as the cursor's kind says.
_CURSOR_KEY = r"^(?:[0-9]{1,19}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
_CURSOR_KEY_RULE = f"{_CURSOR} The entry's id: a UUID for agent_run, a number for event."
#: The cursor for reading back; it may not be given with the ``after`` one (422).
_BEFORE = (
    "The page's `previous`: give before_at, before_kind and before_key together, "
    "and not with the after_ cursor."
)
_BEFORE_KEY_RULE = f"{_BEFORE} The entry's id: a UUID for agent_run, a number for event."


@router.post("/tasks/{task_id}/runs", status_code=status.HTTP_201_CREATED, response_model=RunOut)
async def start_run(task_id: uuid.UUID, store: TenantStore, body: RunStart | None = None) -> RunOut:
    """The task's next run: RUNNING, or WAITING_APPROVAL when its plan needs approval."""
    options = body.model_dump(exclude_unset=True) if body is not None else {}
    return RunOut.model_validate(await store.runs.start(task_id, **options))


@router.post(
    "/tasks/{task_id}/queued-runs", status_code=status.HTTP_201_CREATED, response_model=RunOut
)
async def enqueue_run(
    task_id: uuid.UUID, store: TenantStore, body: RunQueue | None = None
) -> RunOut:
    """Queue the task's next run (PENDING) for a worker to begin, or to begin yourself."""
    options = body.model_dump(exclude_unset=True) if body is not None else {}
    return RunOut.model_validate(await store.runs.enqueue(task_id, **options))


@router.post("/runs/{run_id}/begin", response_model=RunOut)
async def begin_run(run_id: uuid.UUID, store: TenantStore, body: RunBegin | None = None) -> RunOut:
    """Start a queued run: RUNNING, or WAITING_APPROVAL when asked to await plan approval."""
    options = body.model_dump(exclude_unset=True) if body is not None else {}
    return RunOut.model_validate(await store.runs.begin(run_id, **options))


@router.get("/tasks/{task_id}/runs", response_model=list[RunOut])
async def list_runs(task_id: uuid.UUID, store: TenantStore) -> list[RunOut]:
    return [RunOut.model_validate(run) for run in await store.runs.list(task_id)]


@router.get("/runs/{run_id}", response_model=RunOut)
async def get_run(run_id: uuid.UUID, store: TenantStore) -> RunOut:
    return RunOut.model_validate(await store.runs.get(run_id))


@router.post("/runs/{run_id}/finish", response_model=RunOut)
async def finish_run(run_id: uuid.UUID, body: RunFinish, store: TenantStore) -> RunOut:
    """End the run as COMPLETED, FAILED, TIMEOUT or CANCELLED; the task's statistics follow."""
    return RunOut.model_validate(await store.runs.finish(run_id, **body.model_dump()))


@router.post("/runs/{run_id}/plan-decision", response_model=RunOut)
async def decide_plan(run_id: uuid.UUID, body: PlanDecision, store: TenantStore) -> RunOut:
    """A person approves the plan (the run starts) or rejects it (the run ends)."""
    run = await store.runs.decide_plan(
        run_id, approve=body.approve, decided_by=body.decided_by, comment=body.comment
    )
    return RunOut.model_validate(run)


def _cursor(
    at: datetime | None, kind: Literal["agent_run", "event"] | None, key: str | None, name: str
) -> TimelineCursor | None:
    if at is None and kind is None and key is None:
        return None
    if at is None or kind is None or key is None:
        raise ValidationError(f"give {name}_at, {name}_kind and {name}_key together, or none")
    return TimelineCursor(at=at, kind=kind, key=key)


@router.get("/runs/{run_id}/timeline", response_model=TimelineOut)
async def timeline(
    run_id: uuid.UUID,
    store: TenantStore,
    after_at: Annotated[Time | None, Query(description=_CURSOR)] = None,
    after_kind: Annotated[Literal["agent_run", "event"] | None, Query(description=_CURSOR)] = None,
    after_key: Annotated[
        str | None, Query(max_length=64, pattern=_CURSOR_KEY, description=_CURSOR_KEY_RULE)
    ] = None,
    before_at: Annotated[Time | None, Query(description=_BEFORE)] = None,
    before_kind: Annotated[Literal["agent_run", "event"] | None, Query(description=_BEFORE)] = None,
    before_key: Annotated[
        str | None, Query(max_length=64, pattern=_CURSOR_KEY, description=_BEFORE_KEY_RULE)
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    total: Annotated[bool, Query(description="Also count the run's entries.")] = False,
) -> TimelineOut:
    """Agent steps (at their start) and events in time order, oldest first; pass ``next``
    back to read on, ``previous`` to read back."""
    after = _cursor(after_at, after_kind, after_key, "after")
    before = _cursor(before_at, before_kind, before_key, "before")
    page = await store.runs.timeline(run_id, after=after, before=before, limit=limit, total=total)
    return TimelineOut(
        entries=[
            TimelineEntryOut(
                at=entry.at,
                kind=entry.kind,
                agent_run=AgentRunOut.model_validate(entry.item)
                if entry.kind == "agent_run"
                else None,
                event=EventOut.model_validate(entry.item) if entry.kind == "event" else None,
            )
            for entry in page.entries
        ],
        next=page.next_cursor,
        previous=page.previous_cursor,
        enclosing=[AgentRunOut.model_validate(a) for a in page.enclosing],
        total=page.total,
    )


@router.get("/runs/{run_id}/agent-runs", response_model=list[AgentRunOut])
async def list_agent_runs(run_id: uuid.UUID, store: TenantStore) -> list[AgentRunOut]:
    return [AgentRunOut.model_validate(a) for a in await store.agent_runs.list(run_id)]

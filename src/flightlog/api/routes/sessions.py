"""Sessions (the conversations runs belong to) and the lookup of a trace's record."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query

from flightlog.api.auth import TenantStore
from flightlog.api.paging import CountTotal, NextCursor, PreviousCursor
from flightlog.schemas.runs import RunOut
from flightlog.schemas.sessions import SessionOut, SessionPageOut, TraceOut
from flightlog.services.events import SPAN_ID_PATTERN, TRACE_ID_PATTERN
from flightlog.services.sessions import MAX_PAGE_SIZE

router = APIRouter(tags=["sessions"])


@router.get("/sessions", response_model=list[SessionOut])
async def list_sessions(
    store: TenantStore,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    before_id: uuid.UUID | None = None,
    external_id: Annotated[str | None, Query(max_length=255)] = None,
) -> list[SessionOut]:
    """Newest first, with run and token totals; ``external_id`` finds a conversation."""
    found = await store.sessions.list(limit=limit, before_id=before_id, external_id=external_id)
    return [SessionOut.model_validate(item) for item in found]


@router.get("/sessions/page", response_model=SessionPageOut)
async def session_page(
    store: TenantStore,
    external_id: Annotated[str | None, Query(max_length=255)] = None,
    cursor: NextCursor = None,
    before: PreviousCursor = None,
    total: CountTotal = False,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> SessionPageOut:
    """Newest first, a page at a time both ways (``GET /sessions`` keeps its plain list)."""
    found = await store.sessions.page(
        external_id=external_id, cursor=cursor, before=before, total=total, limit=limit
    )
    return SessionPageOut.model_validate(found)


@router.get("/sessions/{session_id}", response_model=SessionOut)
async def get_session(session_id: uuid.UUID, store: TenantStore) -> SessionOut:
    """One session with its totals."""
    return SessionOut.model_validate(await store.sessions.get(session_id))


@router.get("/sessions/{session_id}/runs", response_model=list[RunOut])
async def session_runs(session_id: uuid.UUID, store: TenantStore) -> list[RunOut]:
    """The session's runs in the order they started."""
    return [RunOut.model_validate(run) for run in await store.sessions.runs(session_id)]


@router.get("/traces/{trace_id}", response_model=TraceOut)
async def get_trace(
    trace_id: Annotated[str, Path(pattern=TRACE_ID_PATTERN, description="32 lowercase hex.")],
    store: TenantStore,
    span_id: Annotated[str | None, Query(pattern=SPAN_ID_PATTERN)] = None,
) -> TraceOut:
    """The run, agent runs and events an OpenTelemetry trace (or one span) became."""
    record = await store.traces.get(trace_id, span_id=span_id)
    return TraceOut.model_validate(record, from_attributes=True)

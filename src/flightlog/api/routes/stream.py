"""Follow the event log live: server-sent events over the id cursor.

The stream polls the same keyset page the list endpoint reads, so it sees
every event exactly once and in order, whichever process wrote it, on both
databases (no LISTEN/NOTIFY needed, which SQLite does not have). Each SSE
message carries the event id, so a client that reconnects with
``Last-Event-ID`` continues where it stopped. Streams end after
``timeout_seconds``; EventSource clients reconnect on their own.

On PostgreSQL ids are drawn at insert but transactions commit in their own
order, so the stream reads only up to the watermark of
:mod:`flightlog.services.event_feed`: ids below it can no longer appear, and
the cursor never passes an event that is still to come. With read replicas the
pages are read on one that has replayed the watermark's commits
(:mod:`flightlog.store.event_pages`).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from flightlog.api.auth import TenantStore
from flightlog.api.context import ApiContext
from flightlog.api.errors import RETRY_AFTER_SECONDS
from flightlog.api.keys import REVOCATION_CHECK_SECONDS
from flightlog.db.failures import database_unreachable
from flightlog.enums import EventType
from flightlog.errors import DatabaseUnavailable, PermissionDenied
from flightlog.schemas.events import EventOut
from flightlog.services.events import MAX_EVENT_ID
from flightlog.store.core import Store
from flightlog.store.event_pages import EventPages

router = APIRouter(prefix="/events", tags=["events"])
#: A comment line this often keeps proxies from closing an idle stream.
KEEP_ALIVE_SECONDS = 15.0
#: How often an open stream checks that its key is still good (revoked, expired, suspended).
#: A check is the key cache's (a memory lookup; the cache itself notices a revocation made
#: by any process within REVOCATION_CHECK_SECONDS), so a stream ends soon after one.
REVERIFY_SECONDS = REVOCATION_CHECK_SECONDS


def _message(event: EventOut, named: bool = True) -> str:
    kind = f"event: {event.event_type}\n" if named else ""
    return f"id: {event.id}\n{kind}data: {event.model_dump_json()}\n\n"


async def follow(
    request: Request,
    store: Store,
    key: str,
    *,
    task_id: uuid.UUID | None,
    run_id: uuid.UUID | None,
    after_id: int,
    poll_seconds: float,
    timeout_seconds: float,
    named: bool = True,
) -> AsyncIterator[str]:
    """Server-sent messages of ``store``'s events after ``after_id``, while ``key`` stays good.

    The API's stream and the dashboard's live updates both follow with this; they
    differ only in where the key comes from (a header, a cookie). ``named`` messages
    carry their event type as the SSE event name; unnamed ones reach a browser's
    ``EventSource.onmessage``, which is all the dashboard listens to.
    """
    ctx: ApiContext = request.app.state.flightlog
    deadline = time.monotonic() + timeout_seconds
    quiet_since = checked_at = time.monotonic()
    cursor = after_id
    pages = EventPages(store, task_id=task_id, run_id=run_id)
    yield "retry: 2000\n\n"
    while time.monotonic() < deadline and not await request.is_disconnected():
        try:
            if time.monotonic() - checked_at >= REVERIFY_SECONDS:
                try:
                    await ctx.keys.verify(key)
                except PermissionDenied:
                    return  # the key was revoked or its customer suspended: stop here
                checked_at = time.monotonic()
            # The tenant check was made once, before the stream started; each poll is
            # short reads (see EventPages: DEFERRED on SQLite, the watermark on PostgreSQL).
            page = await pages.next(cursor)
        except Exception as exc:
            if not (isinstance(exc, DatabaseUnavailable) or database_unreachable(exc)):
                raise
            # The stream outlives a database restart: say so, wait, and poll again
            # from the same cursor, so that the client misses nothing.
            yield ": the database is unavailable; the stream waits for it\n\n"
            quiet_since = time.monotonic()
            await asyncio.sleep(min(RETRY_AFTER_SECONDS, max(0.0, deadline - time.monotonic())))
            continue
        for event in page.items:
            yield _message(EventOut.model_validate(event), named)
            cursor = event.id
        if page.next_after_id is not None:
            continue  # more are waiting: no pause
        if page.items:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= KEEP_ALIVE_SECONDS:
            quiet_since = time.monotonic()
            yield ": keep-alive\n\n"
        await asyncio.sleep(min(poll_seconds, max(0.0, deadline - time.monotonic())))


def resumed_after(last_event_id: str | None) -> int | None:
    """The event id a reconnecting EventSource says it saw last (``Last-Event-ID``), if usable."""
    if last_event_id is not None and last_event_id.isascii() and last_event_id.isdigit():
        return min(int(last_event_id), MAX_EVENT_ID)
    return None


def event_stream(body: AsyncIterator[str]) -> StreamingResponse:
    """A ``text/event-stream`` response that proxies and caches pass on as it comes."""
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(body, media_type="text/event-stream", headers=headers)


#: Server-sent events: each message's data is an event shaped as ``EventOut``.
_EVENT_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-sent events: `id:` the event id, `event:` its type, `data:` the "
        "event as JSON (as `GET /events` returns it); `:` comments keep the stream alive.",
        "content": {
            "text/event-stream": {
                "schema": {
                    "description": "One server-sent event (OpenAPI 3.1: the schema of each).",
                    "type": "object",
                    "required": ["id", "event", "data"],
                    "properties": {
                        "id": {"type": "string", "pattern": "^[0-9]+$"},
                        "event": {"type": "string", "enum": [t.value for t in EventType]},
                        "data": {
                            "type": "string",
                            "contentMediaType": "application/json",
                            "contentSchema": {"$ref": "#/components/schemas/EventOut"},
                        },
                        "retry": {"type": "integer", "minimum": 0},
                    },
                }
            }
        },
    }
}


@router.get("/stream", response_class=StreamingResponse, responses=_EVENT_STREAM)
async def stream_events(
    request: Request,
    store: TenantStore,
    task_id: uuid.UUID | None = None,
    run_id: uuid.UUID | None = None,
    after_id: Annotated[int, Query(ge=0, le=MAX_EVENT_ID)] = 0,
    poll_seconds: Annotated[float, Query(ge=0.25, le=60)] = 0.5,
    timeout_seconds: Annotated[float, Query(gt=0, le=3600)] = 300.0,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> StreamingResponse:
    """``text/event-stream`` of the caller's events (of a task or run) as they are written.

    Resumes after ``Last-Event-ID`` when the client sends one, else after ``after_id``.
    """
    resumed = resumed_after(last_event_id)
    if resumed is not None:
        after_id = max(after_id, resumed)
    # Refuse a foreign task or run before the stream starts, as a plain 404.
    await store.events.list(task_id=task_id, run_id=run_id, after_id=MAX_EVENT_ID, limit=1)
    key = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    body = follow(
        request,
        store,
        key,
        task_id=task_id,
        run_id=run_id,
        after_id=after_id,
        poll_seconds=poll_seconds,
        timeout_seconds=timeout_seconds,
    )
    return event_stream(body)

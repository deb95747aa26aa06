"""Live updates for the dashboard: the API's event stream, signed in by the session cookie.

Pages do not patch themselves from event payloads. ``static/live.js`` treats a
message on this stream only as news that something changed, and then reads the
page again and swaps the regions it marks (``data-live-region``). A page is
therefore always what the database says: a message seen twice, or one missed
across a reconnect, cannot duplicate or drop a row. The stream carries event ids,
so EventSource's reconnect sends ``Last-Event-ID`` and resumes where it stopped;
live.js also re-reads the page whenever the stream (re)opens, and every
:data:`SLOW_POLL_SECONDS` for changes that write no event (a heartbeat).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flightlog.api.routes.stream import event_stream, follow, resumed_after
from flightlog.models.event import Event
from flightlog.services.events import MAX_EVENT_ID
from flightlog.store.core import Store
from flightlog.web.session import COOKIE, DashboardStore

router = APIRouter(prefix="/live", include_in_schema=False)
#: How often a page re-reads itself with no message on the stream (changes without events).
SLOW_POLL_SECONDS = 10
#: A dashboard stream ends after this long; EventSource reconnects on its own.
STREAM_SECONDS = 300.0
#: How often the stream looks for new events: the API's least, so that a change shows within
#: about a second even on PostgreSQL, whose watermark releases an id one poll after it is seen.
POLL_SECONDS = 0.25


def _newest_event_id(session: Session) -> int:
    """The highest event id so far, of anyone's: the primary key's last entry, one probe.

    A fresh page's stream starts here (the page shows everything before it); the
    stream itself confines what it sends to the signed-in customer.
    """
    newest = session.scalar(select(func.max(Event.id)))
    return int(newest or 0)


async def waiting_count(store: Store) -> int:
    """How many things wait for a person: the count beside "Waiting" in the navigation."""
    return sum((await store.views.waiting_counts()).values())


@router.get("/stream")
async def live_stream(
    request: Request,
    store: DashboardStore,
    task_id: uuid.UUID | None = None,
    run_id: uuid.UUID | None = None,
    timeout_seconds: Annotated[float, Query(gt=0, le=STREAM_SECONDS)] = STREAM_SECONDS,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> Response:
    """The signed-in customer's events (of a task or run) from now on, as server-sent events."""
    resumed = resumed_after(last_event_id)
    if resumed is not None:
        after_id = resumed
    else:
        async with store.reader() as session:
            after_id = await session.run_sync(_newest_event_id)
    # A foreign task or run is refused before the stream starts, as the API does.
    await store.events.list(task_id=task_id, run_id=run_id, after_id=MAX_EVENT_ID, limit=1)
    body = follow(
        request,
        store,
        request.cookies.get(COOKIE, ""),
        task_id=task_id,
        run_id=run_id,
        after_id=after_id,
        poll_seconds=POLL_SECONDS,
        timeout_seconds=timeout_seconds,
        named=False,
    )
    return event_stream(body)


@router.get("/summary")
async def live_summary(
    store: DashboardStore,
    _: Annotated[int | None, Query(alias="t", ge=0)] = None,
) -> Response:
    """What the navigation shows on every page, for live.js to refresh."""
    return JSONResponse(
        {"waiting": await waiting_count(store), "slow_poll_seconds": SLOW_POLL_SECONDS},
        headers={"Cache-Control": "no-store"},
    )

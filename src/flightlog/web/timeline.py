"""A run's page: its plan and decision, a waterfall of its agent steps, and its timeline.

The timeline comes a page at a time from ``store.runs.timeline`` (keyset cursors both
ways, so a run of a million events costs the same to open at either end). A run still
going opens at its newest entries, where things happen; a finished one at its start.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from flightlog.errors import ValidationError
from flightlog.services.events import MAX_EVENT_ID
from flightlog.services.lifecycle import ACTIVE_RUN_STATUSES
from flightlog.services.timeline import Timeline, TimelineCursor
from flightlog.web import run_waterfall
from flightlog.web.session import DashboardStore, page, root

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

Kind = Literal["agent_run", "event"]
#: An agent run's id or an event's id, as the cursor's kind says (the API's rule).
_KEY = r"^(?:[0-9]{1,19}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
#: Reading back from here gives a run's newest entries: past every entry there can be.
_END = TimelineCursor(at=datetime(9000, 1, 1, tzinfo=UTC), kind="event", key=str(MAX_EVENT_ID))
#: How deep a plan is drawn as lists before the rest is shown as JSON.
PLAN_DEPTH = 4


@dataclass(frozen=True)
class Pager:
    """Links to the pages around this one (None where there is none) and what this one holds."""

    oldest: str | None
    older: str | None
    newer: str | None
    newest: str | None
    shown: int
    total: int | None


def _cursor(
    at: datetime | None, kind: Kind | None, key: str | None, name: str
) -> TimelineCursor | None:
    if at is None and kind is None and key is None:
        return None
    if at is None or kind is None or key is None:
        raise ValidationError(f"give {name}_at, {name}_kind and {name}_key together, or none")
    if at.tzinfo is None:
        raise ValidationError(f"{name}_at must say its time zone")
    return TimelineCursor(at=at, kind=kind, key=key)


DEFAULT_LIMIT = 200


def _link(base: str, limit: int, params: dict[str, str]) -> str:
    if limit != DEFAULT_LIMIT:
        params = {**params, "limit": str(limit)}
    return f"{base}?{urlencode(params)}" if params else base


def _at(name: str, cursor: TimelineCursor) -> dict[str, str]:
    return {
        f"{name}_at": cursor.at.isoformat(),
        f"{name}_kind": cursor.kind,
        f"{name}_key": cursor.key,
    }


def _pager(base: str, limit: int, timeline: Timeline) -> Pager:
    older, newer = timeline.previous_cursor, timeline.next_cursor
    return Pager(
        oldest=_link(base, limit, {"page": "oldest"}) if older is not None else None,
        older=_link(base, limit, _at("before", older)) if older is not None else None,
        newer=_link(base, limit, _at("after", newer)) if newer is not None else None,
        newest=_link(base, limit, {"page": "newest"}) if newer is not None else None,
        shown=len(timeline.entries),
        total=timeline.total,
    )


def plan_json(value: object) -> str:
    """A plan (or the part of it too deep to list) as indented JSON, escaped by the template."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


@router.get("/runs/{run_id}")
async def run(
    request: Request,
    run_id: uuid.UUID,
    store: DashboardStore,
    after_at: datetime | None = None,
    after_kind: Kind | None = None,
    after_key: Annotated[str | None, Query(max_length=64, pattern=_KEY)] = None,
    before_at: datetime | None = None,
    before_kind: Kind | None = None,
    before_key: Annotated[str | None, Query(max_length=64, pattern=_KEY)] = None,
    page_at: Annotated[Literal["oldest", "newest"] | None, Query(alias="page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = DEFAULT_LIMIT,
) -> Response:
    after = _cursor(after_at, after_kind, after_key, "after")
    before = _cursor(before_at, before_kind, before_key, "before")
    if after is None and before is None and page_at != "oldest":
        if page_at == "newest":
            before = _END
        else:
            current = await store.runs.get(run_id)
            before = _END if current.status in ACTIVE_RUN_STATUSES else None
    timeline = await store.runs.timeline(
        run_id, after=after, before=before, limit=limit, total=True
    )
    task = await store.tasks.get(timeline.run.task_id)
    now = datetime.now(UTC)
    base = f"{root(request)}/runs/{run_id}"
    return page(
        request,
        "run.html",
        {
            "run": timeline.run,
            "task": task,
            "timeline": timeline,
            "waterfall": run_waterfall.build(timeline, now),
            "pager": _pager(base, limit, timeline),
            "now": now,
            "active": timeline.run.status in ACTIVE_RUN_STATUSES,
            "plan_json": plan_json,
            "plan_depth": PLAN_DEPTH,
            "is_error": run_waterfall.is_error,
            "failed": run_waterfall.failed,
            "nav": "tasks",
        },
    )

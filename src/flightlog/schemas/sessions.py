"""Sessions (conversations) and what a trace became."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from flightlog.schemas._base import Out
from flightlog.schemas.agent_runs import AgentRunOut
from flightlog.schemas.events import EventOut
from flightlog.schemas.runs import RunOut


class SessionOut(Out):
    id: uuid.UUID
    external_id: str = Field(description="The conversation id its producer gave it.")
    title: str | None
    started_at: datetime | None
    last_activity_at: datetime | None
    details: dict[str, Any]
    created_at: datetime
    run_count: int
    tokens_in: int
    tokens_out: int
    cost_usd: Decimal


class SessionPageOut(Out):
    items: list[SessionOut]
    next_cursor: uuid.UUID | None = Field(description="Pass back as ?cursor= for the next page.")
    previous_cursor: uuid.UUID | None = Field(
        default=None, description="Pass back as ?before= for the page before (none on the first)."
    )
    total: int | None = Field(default=None, description="Every matching session, with ?total=true.")
    offset: int | None = Field(
        default=None, description="How many matching ones come before this page (?total=true)."
    )


class TraceOut(BaseModel):
    trace_id: str
    run: RunOut | None = Field(description="None while the trace's root span has not arrived.")
    agent_runs: list[AgentRunOut]
    events: list[EventOut] = Field(description="At most 1,000; page the rest by run.")
    waiting_spans: int = Field(description="Spans received whose parent has not arrived yet.")

"""Claims: a worker leases ready tasks, keeps the lease alive, completes or releases it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from flightlog.enums import RunStatus
from flightlog.schemas._base import In, Out
from flightlog.schemas.fields import JsonInteger, Number
from flightlog.schemas.runs import FinishingRunStatus, failed_needs_reason
from flightlog.services.claims import MAX_LEASE_SECONDS


class ClaimRequest(In):
    worker: str = Field(min_length=1, max_length=255)
    lease_seconds: Number = Field(default=300.0, gt=0, le=MAX_LEASE_SECONDS)
    limit: Annotated[int, Field(ge=1, le=100), JsonInteger] = 1


class ClaimOut(Out):
    """A leased task and its run; send it back to complete or release the claim."""

    task_id: uuid.UUID
    run_id: uuid.UUID
    worker: str = Field(min_length=1, max_length=255)
    lease_expires_at: AwareDatetime


class Heartbeat(In):
    task_id: uuid.UUID
    worker: str = Field(min_length=1, max_length=255)
    lease_seconds: Number = Field(default=300.0, gt=0, le=MAX_LEASE_SECONDS)


class LeaseOut(BaseModel):
    lease_expires_at: datetime


class ClaimComplete(In):
    """A FAILED run needs an error_message."""

    model_config = ConfigDict(
        json_schema_extra=failed_needs_reason(("error_message", {"type": "string", "minLength": 1}))
    )

    claim: ClaimOut
    status: FinishingRunStatus = RunStatus.COMPLETED
    results: dict[str, Any] | None = None
    error_message: str | None = None


class ClaimRelease(In):
    claim: ClaimOut
    reason: str | None = None

"""Modification requests of a project: asked for, decided, applied or failed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from flightlog.enums import ModificationStatus
from flightlog.schemas._base import In, Out
from flightlog.schemas.fields import Actor, NonBlank, Text255, Text500
from flightlog.schemas.recommendations import Failure


class ModificationIn(In):
    request: NonBlank
    title: Text500 | None = None
    impact_analysis: dict[str, Any] | None = None
    affected_files: list[NonBlank] | None = None
    project_context_id: uuid.UUID | None = Field(
        default=None, description="An iteration of this project."
    )
    requested_by: Text255 | None = None


class Applied(In):
    result: dict[str, Any] | None = None
    actor: Actor = None


class ModificationFailure(Failure):
    result: dict[str, Any] | None = None


class ModificationOut(Out):
    id: uuid.UUID
    project_id: uuid.UUID
    project_context_id: uuid.UUID | None
    title: str | None
    request: str
    impact_analysis: dict[str, Any]
    affected_files: list[str]
    status: ModificationStatus
    requested_by: str | None
    decided_by: str | None
    decided_at: datetime | None
    decision_comment: str | None
    applied_at: datetime | None
    result: dict[str, Any] | None
    error_message: str | None
    created_at: datetime
    updated_at: datetime


class ModificationPageOut(BaseModel):
    items: list[ModificationOut]
    next_cursor: uuid.UUID | None

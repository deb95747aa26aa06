"""Projects and their context iterations."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from flightlog.schemas._base import In, Out
from flightlog.schemas.fields import NonBlank100, NonBlank255, Number, Text255, Text500, optional


class ProjectUpdate(In):
    name: NonBlank255 = optional()
    description: str | None = None
    repository_url: Text500 | None = None
    repository_name: Text255 | None = None
    default_branch: NonBlank100 = optional()
    settings: dict[str, Any] = optional()
    owner: Text255 | None = None


class ProjectIn(ProjectUpdate):
    name: NonBlank255


class ProjectOut(Out):
    id: uuid.UUID
    name: str
    description: str | None
    repository_url: str | None
    repository_name: str | None
    default_branch: str
    settings: dict[str, Any]
    owner: str | None
    created_at: datetime
    updated_at: datetime


class ProjectPageOut(BaseModel):
    items: list[ProjectOut]
    next_cursor: uuid.UUID | None = Field(description="Pass back as ?cursor= for the next page.")
    previous_cursor: uuid.UUID | None = Field(
        default=None, description="Pass back as ?before= for the page before (none on the first)."
    )
    total: int | None = Field(default=None, description="Every matching project, with ?total=true.")
    offset: int | None = Field(
        default=None, description="How many matching ones come before this page (?total=true)."
    )


class ContextIn(In):
    codebase: dict[str, Any] | None = None
    configuration: dict[str, Any] | None = None
    test_coverage: Number | None = Field(default=None, ge=0, le=100)
    security_score: Number | None = Field(default=None, ge=0, le=100)
    performance_score: Number | None = Field(default=None, ge=0, le=100)
    owner_id: Text255 | None = None
    notes: str | None = None


class ContextOut(Out):
    id: uuid.UUID
    project_id: uuid.UUID
    iteration: int
    codebase: dict[str, Any]
    configuration: dict[str, Any]
    test_coverage: float | None
    security_score: float | None
    performance_score: float | None
    owner_id: str | None
    notes: str | None
    created_at: datetime


class ContextPageOut(BaseModel):
    items: list[ContextOut]
    next_cursor: uuid.UUID | None = Field(description="Pass back as ?cursor= for the next page.")
    previous_cursor: uuid.UUID | None = Field(
        default=None, description="Pass back as ?before= for the page before (none on the first)."
    )
    total: int | None = Field(default=None, description="Every matching context, with ?total=true.")
    offset: int | None = Field(
        default=None, description="How many matching ones come before this page (?total=true)."
    )

"""Pull requests and their validation checks."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from flightlog.enums import PullRequestStatus, ValidationStatus
from flightlog.schemas._base import In, Out
from flightlog.schemas.fields import (
    MAX_INT,
    Actor,
    JsonInteger,
    NonBlank255,
    NonBlank500,
    Text255,
)


class PullRequestIn(In):
    project_id: uuid.UUID
    branch_name: NonBlank255
    title: NonBlank500
    repository_url: NonBlank500 | None = Field(
        default=None, description="Default: the project's (one of the two is needed)."
    )
    base_branch: NonBlank255 | None = Field(
        default=None, description="Default: the project's default branch."
    )
    description: str | None = None
    pr_number: Annotated[int, Field(ge=1, le=MAX_INT), JsonInteger] | None = None
    task_id: uuid.UUID | None = None
    run_id: uuid.UUID | None = Field(
        default=None, description="A run of task_id, when both are given."
    )
    author: Text255 | None = None
    actor: Actor = None


class PullRequestMove(In):
    status: PullRequestStatus
    actor: Actor = None
    comment: str | None = None


class PullRequestOut(Out):
    id: uuid.UUID
    project_id: uuid.UUID
    task_id: uuid.UUID | None
    run_id: uuid.UUID | None
    pr_number: int | None
    repository_url: str
    branch_name: str
    base_branch: str
    title: str
    description: str | None
    status: PullRequestStatus
    validation_results: dict[str, Any]
    author: str | None
    merged_at: datetime | None
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class PullRequestPageOut(Out):
    items: list[PullRequestOut]
    next_cursor: uuid.UUID | None = Field(description="Pass back as ?cursor= for the next page.")
    previous_cursor: uuid.UUID | None = Field(
        default=None, description="Pass back as ?before= for the page before (none on the first)."
    )
    total: int | None = Field(
        default=None, description="Every matching pull request, with ?total=true."
    )
    offset: int | None = Field(
        default=None, description="How many matching ones come before this page (?total=true)."
    )


class CheckIn(In):
    name: NonBlank255
    status: ValidationStatus
    details: dict[str, Any] | None = None
    actor: Actor = None


class CheckOut(Out):
    id: uuid.UUID
    pull_request_id: uuid.UUID
    name: str
    status: ValidationStatus
    details: dict[str, Any]
    created_at: datetime
    updated_at: datetime

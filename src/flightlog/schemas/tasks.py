"""Tasks: what a client sends to create or change one, and what it reads back."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from flightlog.enums import AgentType, TaskStatus
from flightlog.schemas._base import In, Out
from flightlog.schemas.fields import (
    MAX_INT,
    NOT_BLANK,
    Actor,
    JsonInteger,
    NonBlank500,
    optional,
)

#: A task's conversation rounds or memory size (seed 001): a positive INTEGER.
Rounds = Annotated[int, Field(ge=1, le=MAX_INT), JsonInteger]
#: A task's priority: any INTEGER, higher first.
TaskPriority = Annotated[int, Field(ge=-MAX_INT, le=MAX_INT), JsonInteger]


class TaskOut(Out):
    id: uuid.UUID
    project_id: uuid.UUID | None
    parent_task_id: uuid.UUID | None
    title: str
    description: str | None
    input_prompt: str | None
    status: TaskStatus
    priority: int
    config: dict[str, Any]
    requirements: dict[str, Any]
    context: dict[str, Any]
    tags: list[str]
    assigned_agent_id: uuid.UUID | None
    assigned_agent_type: AgentType | None
    result_summary: str | None
    max_rounds: int
    memory_size: int
    total_runs: int
    successful_runs: int
    failed_runs: int
    success_rate: float
    avg_duration_seconds: float | None
    last_run_at: datetime | None
    claimed_by: str | None
    started_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class TaskPageOut(BaseModel):
    items: list[TaskOut]
    next_cursor: uuid.UUID | None = Field(description="Pass back as ?cursor= for the next page.")
    previous_cursor: uuid.UUID | None = Field(
        default=None, description="Pass back as ?before= for the page before (none on the first)."
    )
    total: int | None = Field(default=None, description="Every matching task, with ?total=true.")
    offset: int | None = Field(
        default=None, description="How many matching tasks come before this page (?total=true)."
    )


class TaskCreate(In):
    """A title, or a prompt whose first line becomes the title."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["title"], "properties": {"title": {"type": "string"}}},
                {
                    "required": ["input_prompt"],
                    "properties": {"input_prompt": {"type": "string", "pattern": NOT_BLANK}},
                },
            ]
        }
    )

    title: NonBlank500 | None = None
    input_prompt: str | None = None
    description: str | None = None
    priority: TaskPriority = optional()
    project_id: uuid.UUID | None = None
    parent_task_id: uuid.UUID | None = None
    tags: list[str] = optional()
    config: dict[str, Any] = optional()
    requirements: dict[str, Any] = optional()
    context: dict[str, Any] = optional()
    assigned_agent_id: uuid.UUID | None = None
    assigned_agent_type: AgentType | None = None
    result_summary: str | None = None
    max_rounds: Rounds = optional()
    memory_size: Rounds = optional()
    depends_on: list[uuid.UUID] = Field(default_factory=list)
    actor: Actor = None
    id: uuid.UUID | None = Field(
        default=None,
        description="The id to give it (moving existing data in); 409 when it is taken. "
        "Default: a new UUIDv7.",
    )


class TaskUpdate(In):
    """The fields to change; the ones left out keep their values."""

    title: NonBlank500 = optional()
    description: str | None = None
    input_prompt: str | None = None
    priority: TaskPriority = optional()
    tags: list[str] = optional()
    config: dict[str, Any] = optional()
    requirements: dict[str, Any] = optional()
    context: dict[str, Any] = optional()
    assigned_agent_id: uuid.UUID | None = None
    assigned_agent_type: AgentType | None = None
    result_summary: str | None = None
    max_rounds: Rounds = optional()
    memory_size: Rounds = optional()
    project_id: uuid.UUID | None = None


class CancelIn(In):
    reason: str | None = None
    actor: Actor = None


# GET /search/tasks: a task and how well it matched.
class SearchHit(BaseModel):
    task: TaskOut
    rank: float


# GET /search/tasks/page: a page of hits and where it lies among all the matches.
class SearchPageOut(BaseModel):
    items: list[SearchHit]
    total: int = Field(description="Every task the query matches.")
    offset: int = Field(description="How many better matches come before this page.")
    next_offset: int | None = Field(description="Pass back as ?offset= for the next page.")
    previous_offset: int | None = Field(description="Pass back as ?offset= for the page before.")

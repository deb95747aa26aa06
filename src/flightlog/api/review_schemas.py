"""Bodies of the project and review endpoints: projects, contexts, recommendations,
approvals, optimizations, modifications and pull requests."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema

from flightlog.api.fields import (
    MAX_INT,
    NOT_BLANK,
    Boolean,
    JsonInteger,
    Money,
    NonBlank,
    NonBlank64,
    NonBlank100,
    NonBlank255,
    NonBlank500,
    Number,
    Text32,
    Text255,
    Text500,
    optional,
)
from flightlog.api.schemas import Actor
from flightlog.enums import (
    ApprovalStatus,
    ModificationStatus,
    OptimizationStatus,
    Priority,
    PullRequestStatus,
    RecommendationStatus,
    ValidationStatus,
)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProjectUpdate(_In):
    name: NonBlank255 = optional()
    description: str | None = None
    repository_url: Text500 | None = None
    repository_name: Text255 | None = None
    default_branch: NonBlank100 = optional()
    settings: dict[str, Any] = optional()
    owner: Text255 | None = None


class ProjectIn(ProjectUpdate):
    name: NonBlank255


class ProjectOut(_Out):
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
    next_cursor: uuid.UUID | None


class ContextIn(_In):
    codebase: dict[str, Any] | None = None
    configuration: dict[str, Any] | None = None
    test_coverage: Number | None = Field(default=None, ge=0, le=100)
    security_score: Number | None = Field(default=None, ge=0, le=100)
    performance_score: Number | None = Field(default=None, ge=0, le=100)
    owner_id: Text255 | None = None
    notes: str | None = None


class ContextOut(_Out):
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


class RecommendationIn(_In):
    recommendation_type: NonBlank64
    title: NonBlank500
    confidence_score: Number = Field(ge=0, le=1)
    description: str | None = None
    priority: Priority | None = None
    estimated_savings: Money | None = None
    data: dict[str, Any] | None = None
    agent_id: uuid.UUID | None = None
    project_id: uuid.UUID | None = None
    actor: Actor = None


class RecommendationOut(_Out):
    id: uuid.UUID
    agent_id: uuid.UUID | None
    project_id: uuid.UUID | None
    recommendation_type: str
    title: str
    description: str | None
    priority: Priority
    status: RecommendationStatus
    confidence_score: float
    estimated_savings: Decimal | None
    data: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class Decision(_In):
    approve: Boolean
    decided_by: NonBlank255
    comment: str | None = None


class ApprovalOut(_Out):
    id: uuid.UUID
    recommendation_id: uuid.UUID
    status: ApprovalStatus
    decided_by: str | None
    decided_at: datetime | None
    comment: str | None
    created_at: datetime


class OptimizationStart(_In):
    agent_id: uuid.UUID | None = None
    actor: Actor = None


class Progress(_In):
    progress: Annotated[int, Field(ge=0, le=100), JsonInteger] = Field(
        description="Never below the progress reported."
    )
    actor: Actor = None


class OptimizationDone(_In):
    result: dict[str, Any] | None = None
    actual_savings: Money | None = None
    actor: Actor = None


class Failure(_In):
    error_message: NonBlank
    actor: Actor = None


class Rollback(_In):
    reason: NonBlank
    actor: Actor = None


class OptimizationOut(_Out):
    id: uuid.UUID
    recommendation_id: uuid.UUID
    agent_id: uuid.UUID | None
    status: OptimizationStatus
    progress: int
    result: dict[str, Any]
    actual_savings: Decimal | None
    error_message: str | None
    started_at: datetime | None
    completed_at: datetime | None
    rolled_back_at: datetime | None
    rollback_reason: str | None
    created_at: datetime
    updated_at: datetime


class ModificationIn(_In):
    request: NonBlank
    title: Text500 | None = None
    impact_analysis: dict[str, Any] | None = None
    affected_files: list[NonBlank] | None = None
    project_context_id: uuid.UUID | None = Field(
        default=None, description="An iteration of this project."
    )
    requested_by: Text255 | None = None


class Applied(_In):
    result: dict[str, Any] | None = None
    actor: Actor = None


class ModificationFailure(Failure):
    result: dict[str, Any] | None = None


class ModificationOut(_Out):
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


class PullRequestIn(_In):
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


class PullRequestMove(_In):
    status: PullRequestStatus
    actor: Actor = None
    comment: str | None = None


class PullRequestOut(_Out):
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


class CheckIn(_In):
    name: NonBlank255
    status: ValidationStatus
    details: dict[str, Any] | None = None
    actor: Actor = None


class CheckOut(_Out):
    id: uuid.UUID
    pull_request_id: uuid.UUID
    name: str
    status: ValidationStatus
    details: dict[str, Any]
    created_at: datetime
    updated_at: datetime


#: Template variables are identifiers; placeholders in files are written ``{{name}}``.
Variable = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
_DISTINCT = {"uniqueItems": True}
#: File paths (not blank) to contents.
Files = Annotated[
    dict[Annotated[str, StringConstraints(pattern=NOT_BLANK)], str],
    WithJsonSchema(
        {
            "type": "object",
            "propertyNames": {"pattern": NOT_BLANK},
            "additionalProperties": {"type": "string"},
        }
    ),
]


class TemplateUpdate(_In):
    """Every ``{{placeholder}}`` in the files must be a declared variable, and no variable
    may be both required and optional."""

    name: NonBlank255 = optional()
    description: str | None = None
    files: Files = optional(description="Path -> content; both may use {{variables}}.")
    required_variables: list[Variable] = optional(schema=_DISTINCT)
    optional_variables: list[Variable] = optional(schema=_DISTINCT)
    tech_stack: list[NonBlank] = optional(schema=_DISTINCT)
    tags: list[NonBlank] = optional(schema=_DISTINCT)
    complexity: Text32 | None = None
    setup_time_minutes: Annotated[int, Field(ge=0, le=MAX_INT), JsonInteger] | None = None


class TemplateIn(TemplateUpdate):
    name: NonBlank255


class TemplateOut(_Out):
    id: uuid.UUID
    name: str
    description: str | None
    files: dict[str, Any]
    required_variables: list[str]
    optional_variables: list[str]
    tech_stack: list[str]
    tags: list[str]
    complexity: str | None
    setup_time_minutes: int | None
    created_at: datetime
    updated_at: datetime


class TemplatePageOut(BaseModel):
    items: list[TemplateOut]
    next_cursor: uuid.UUID | None


class Variables(_In):
    variables: dict[str, Any] = Field(
        default_factory=dict,
        description="A string for each required variable of the template, and optional ones; "
        "no others.",
    )


class ProjectFromTemplateIn(ProjectUpdate):
    name: NonBlank255
    variables: dict[str, Any] = Field(
        default_factory=dict,
        description="A string for each required variable of the template, and optional ones; "
        "no others.",
    )
    configuration: dict[str, Any] | None = None
    owner_id: Text255 | None = None


class ProjectFromTemplateOut(BaseModel):
    project: ProjectOut
    context: ContextOut

"""Bodies of the project and review endpoints: projects, contexts, recommendations,
approvals, optimizations, modifications and pull requests."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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
    name: str | None = None
    description: str | None = None
    repository_url: str | None = None
    repository_name: str | None = None
    default_branch: str | None = None
    settings: dict[str, Any] | None = None
    owner: str | None = None


class ProjectIn(ProjectUpdate):
    name: str


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
    test_coverage: float | None = None
    security_score: float | None = None
    performance_score: float | None = None
    owner_id: str | None = None
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
    recommendation_type: str
    title: str
    confidence_score: float
    description: str | None = None
    priority: Priority | None = None
    estimated_savings: Decimal | None = None
    data: dict[str, Any] | None = None
    agent_id: uuid.UUID | None = None
    project_id: uuid.UUID | None = None
    actor: str | None = None


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
    approve: bool
    decided_by: str
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
    actor: str | None = None


class Progress(_In):
    progress: int = Field(ge=0, le=100)
    actor: str | None = None


class OptimizationDone(_In):
    result: dict[str, Any] | None = None
    actual_savings: Decimal | None = None
    actor: str | None = None


class Failure(_In):
    error_message: str
    actor: str | None = None


class Rollback(_In):
    reason: str
    actor: str | None = None


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
    request: str
    title: str | None = None
    impact_analysis: dict[str, Any] | None = None
    affected_files: list[str] | None = None
    project_context_id: uuid.UUID | None = None
    requested_by: str | None = None


class Applied(_In):
    result: dict[str, Any] | None = None
    actor: str | None = None


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
    branch_name: str
    title: str
    repository_url: str | None = None
    base_branch: str | None = None
    description: str | None = None
    pr_number: int | None = None
    task_id: uuid.UUID | None = None
    run_id: uuid.UUID | None = None
    author: str | None = None
    actor: str | None = None


class PullRequestMove(_In):
    status: PullRequestStatus
    actor: str | None = None
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
    name: str
    status: ValidationStatus
    details: dict[str, Any] | None = None
    actor: str | None = None


class CheckOut(_Out):
    id: uuid.UUID
    pull_request_id: uuid.UUID
    name: str
    status: ValidationStatus
    details: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class TemplateUpdate(_In):
    name: str | None = Field(default=None, max_length=255)
    description: str | None = None
    files: dict[str, str] | None = None
    required_variables: list[str] | None = None
    optional_variables: list[str] | None = None
    tech_stack: list[str] | None = None
    tags: list[str] | None = None
    complexity: str | None = Field(default=None, max_length=32)
    setup_time_minutes: int | None = Field(default=None, ge=0, le=2**31 - 1)


class TemplateIn(TemplateUpdate):
    name: str = Field(max_length=255)


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
    variables: dict[str, Any] = Field(default_factory=dict)


class ProjectFromTemplateIn(ProjectUpdate):
    name: str
    variables: dict[str, Any] = Field(default_factory=dict)
    configuration: dict[str, Any] | None = None
    owner_id: str | None = None


class ProjectFromTemplateOut(BaseModel):
    project: ProjectOut
    context: ContextOut

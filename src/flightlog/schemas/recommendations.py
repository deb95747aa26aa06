"""Recommendations, the approvals a person decides, and the optimizations that carry them out."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field

from flightlog.enums import ApprovalStatus, OptimizationStatus, Priority, RecommendationStatus
from flightlog.schemas._base import In, Out
from flightlog.schemas.fields import (
    Actor,
    Boolean,
    JsonInteger,
    Money,
    NonBlank,
    NonBlank64,
    NonBlank255,
    NonBlank500,
    Number,
)


class RecommendationIn(In):
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


class RecommendationOut(Out):
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


# A person's approval or rejection, of a recommendation or of a modification.
class Decision(In):
    approve: Boolean
    decided_by: NonBlank255
    comment: str | None = None


class ApprovalOut(Out):
    id: uuid.UUID
    recommendation_id: uuid.UUID
    status: ApprovalStatus
    decided_by: str | None
    decided_at: datetime | None
    comment: str | None
    created_at: datetime


class OptimizationStart(In):
    agent_id: uuid.UUID | None = None
    actor: Actor = None


class OptimizationBegin(In):
    actor: Actor = None


class Progress(In):
    progress: Annotated[int, Field(ge=0, le=100), JsonInteger] = Field(
        description="Never below the progress reported."
    )
    actor: Actor = None


class OptimizationDone(In):
    result: dict[str, Any] | None = None
    actual_savings: Money | None = None
    actor: Actor = None


# Why an optimization failed (a modification's failure adds its result).
class Failure(In):
    error_message: NonBlank
    actor: Actor = None


class Rollback(In):
    reason: NonBlank
    actor: Actor = None


class OptimizationOut(Out):
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

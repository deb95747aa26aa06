"""Recommendations and their approvals (seed 002): an agent proposes, a person decides.

A recommendation is born PENDING together with a PENDING approval request.
The decision is recorded on both rows in one transaction (who, when, why),
and only an approved recommendation may be executed (see
:mod:`flightlog.services.optimizations`). Every change is an audit event.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import case, select
from sqlalchemy.orm import Session, contains_eager

from flightlog.enums import ApprovalStatus, Priority, RecommendationStatus
from flightlog.errors import ValidationError
from flightlog.models import Agent, Approval, Project, Recommendation
from flightlog.services import events
from flightlog.services._common import get_or_raise, get_owned, require, utc_now
from flightlog.services._dialect import equals_constant
from flightlog.services.lifecycle import APPROVAL_LIFECYCLE, RECOMMENDATION_LIFECYCLE, move

MAX_PAGE_SIZE = 500
#: Numeric(14, 2): twelve digits before the point, two after.
MAX_MONEY = Decimal("999999999999.99")

PRIORITY_RANK = {Priority.LOW: 0, Priority.MEDIUM: 1, Priority.HIGH: 2, Priority.CRITICAL: 3}


def money(value: Any, name: str) -> Decimal | None:
    """A non-negative amount that fits Numeric(14, 2) exactly, or None.

    Floats are read through their shortest text form so 0.1 means 0.1; more
    than two decimal places is refused rather than silently rounded away.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValidationError(f"{name} must be a decimal amount, got {value!r}")
    try:
        amount = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise ValidationError(f"{name} must be a decimal amount, got {value!r}") from None
    require(amount.is_finite(), f"{name} must be a finite amount, got {value!r}")
    require(amount >= 0, f"{name} cannot be negative, got {amount}")
    require(amount <= MAX_MONEY, f"{name} must be at most {MAX_MONEY}, got {amount}")
    cents = amount.quantize(Decimal("0.01"))
    require(cents == amount, f"{name} has more than two decimal places: {amount}")
    return cents


def _confidence(value: Any) -> float:
    """Checked here so the caller gets a clear message, not the database CHECK's."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValidationError(f"confidence_score must be a number, got {value!r}")
    score = float(value)
    require(
        math.isfinite(score) and 0.0 <= score <= 1.0,
        f"confidence_score must be between 0 and 1, got {value}",
    )
    return score


def _priority(value: Any) -> Priority:
    try:
        return Priority(value)
    except ValueError:
        raise ValidationError(
            f"unknown priority {value!r}; expected one of {', '.join(Priority)}"
        ) from None


def _text(value: Any, name: str, limit: int) -> str:
    require(
        isinstance(value, str) and bool(value.strip()) and len(value) <= limit,
        f"{name} must be 1 to {limit} characters",
    )
    return str(value)


def create_recommendation(
    session: Session,
    customer_id: uuid.UUID,
    /,
    *,
    recommendation_type: str,
    title: str,
    confidence_score: float | Decimal,
    description: str | None = None,
    priority: Priority | str = Priority.MEDIUM,
    estimated_savings: Decimal | int | str | float | None = None,
    data: dict[str, Any] | None = None,
    agent_id: uuid.UUID | None = None,
    project_id: uuid.UUID | None = None,
    actor: str | None = None,
) -> Recommendation:
    """A PENDING recommendation and the PENDING approval request a person will answer."""
    rec_type = _text(recommendation_type, "recommendation_type", 64)
    title = _text(title, "title", 500)
    require(description is None or isinstance(description, str), "description must be text")
    level = _priority(priority)
    score = _confidence(confidence_score)
    savings = money(estimated_savings, "estimated_savings")
    require(data is None or isinstance(data, dict), "data must be a JSON object")
    if agent_id is not None:
        get_or_raise(session, Agent, agent_id, customer_id=customer_id)
    if project_id is not None:
        get_or_raise(session, Project, project_id, customer_id=customer_id)
    rec = Recommendation(
        customer_id=customer_id,
        agent_id=agent_id,
        project_id=project_id,
        recommendation_type=rec_type,
        title=title,
        description=description,
        priority=level,
        status=RecommendationStatus.PENDING,
        confidence_score=score,
        estimated_savings=savings,
        data=data or {},
    )
    session.add(rec)
    session.flush()
    approval = Approval(
        recommendation_id=rec.id, customer_id=customer_id, status=ApprovalStatus.PENDING
    )
    session.add(approval)
    session.flush()
    events.record_transition(
        session,
        entity=RECOMMENDATION_LIFECYCLE.entity,
        entity_id=rec.id,
        from_status=None,
        to_status=RecommendationStatus.PENDING,
        customer_id=customer_id,
        actor=actor,
        data={"priority": level.value, "confidence_score": score},
    )
    events.record_transition(
        session,
        entity=APPROVAL_LIFECYCLE.entity,
        entity_id=approval.id,
        from_status=None,
        to_status=ApprovalStatus.PENDING,
        customer_id=customer_id,
        actor=actor,
        data={"recommendation_id": str(rec.id)},
    )
    session.flush()
    return rec


def get_recommendation(
    session: Session, customer_id: uuid.UUID, /, recommendation_id: uuid.UUID
) -> Recommendation:
    """The recommendation, or :class:`NotFound` (also for another customer's)."""
    return get_or_raise(session, Recommendation, recommendation_id, customer_id=customer_id)


def lock_recommendation(
    session: Session, customer_id: uuid.UUID, /, recommendation_id: uuid.UUID
) -> Recommendation:
    """Read the row fresh under ``FOR UPDATE``: two deciders (or starters) queue, not race."""
    return get_owned(
        session, Recommendation, recommendation_id, customer_id=customer_id, for_update=True
    )


def set_recommendation_status(
    session: Session,
    rec: Recommendation,
    target: RecommendationStatus,
    *,
    actor: str | None,
    data: dict[str, Any] | None = None,
) -> None:
    """The one place a recommendation's status changes; callers check every table first."""
    move(
        session,
        RECOMMENDATION_LIFECYCLE,
        rec,
        target,
        customer_id=rec.customer_id,
        actor=actor,
        data=data,
    )


def _open_approval(session: Session, rec: Recommendation) -> Approval:
    """The latest approval request; recommendations loaded without one (seed 002's seed
    data inserts bare rows) get one now, so they can still be decided."""
    stmt = (
        select(Approval)
        .where(Approval.recommendation_id == rec.id)
        .order_by(Approval.created_at.desc(), Approval.id.desc())
        .limit(1)
        .with_for_update()
    )
    approval = session.scalar(stmt)
    if approval is None:
        approval = Approval(
            recommendation_id=rec.id, customer_id=rec.customer_id, status=ApprovalStatus.PENDING
        )
        session.add(approval)
        session.flush()
    return approval


def decide(
    session: Session,
    customer_id: uuid.UUID,
    /,
    recommendation_id: uuid.UUID,
    *,
    approve: bool,
    decided_by: str,
    comment: str | None = None,
) -> Approval:
    """Record a person's decision on the approval and the recommendation together.

    Both tables are checked before anything is written, so a second decision
    raises :class:`InvalidTransition` and leaves the first one intact.
    """
    require(
        isinstance(decided_by, str) and bool(decided_by.strip()),
        "decided_by must name who decided",
    )
    require(len(decided_by) <= 255, "decided_by must be at most 255 characters")
    require(comment is None or isinstance(comment, str), "comment must be text")
    rec = lock_recommendation(session, customer_id, recommendation_id)
    target = RecommendationStatus.APPROVED if approve else RecommendationStatus.REJECTED
    verdict = ApprovalStatus.APPROVED if approve else ApprovalStatus.REJECTED
    RECOMMENDATION_LIFECYCLE.check(rec.status, target)
    approval = _open_approval(session, rec)
    move(
        session,
        APPROVAL_LIFECYCLE,
        approval,
        verdict,
        customer_id=customer_id,
        actor=decided_by,
        data={"recommendation_id": str(rec.id), "comment": comment},
    )
    approval.decided_by = decided_by
    approval.decided_at = utc_now()
    approval.comment = comment
    set_recommendation_status(
        session,
        rec,
        target,
        actor=decided_by,
        data={"approval_id": str(approval.id), "comment": comment},
    )
    session.flush()
    return approval


def approve_recommendation(
    session: Session,
    customer_id: uuid.UUID,
    /,
    recommendation_id: uuid.UUID,
    *,
    decided_by: str,
    comment: str | None = None,
) -> Approval:
    """:func:`decide` with ``approve=True``: the recommendation may now be executed."""
    return decide(
        session,
        customer_id,
        recommendation_id,
        approve=True,
        decided_by=decided_by,
        comment=comment,
    )


def reject_recommendation(
    session: Session,
    customer_id: uuid.UUID,
    /,
    recommendation_id: uuid.UUID,
    *,
    decided_by: str,
    comment: str | None = None,
) -> Approval:
    """:func:`decide` with ``approve=False``: final, a new attempt is a new recommendation."""
    return decide(
        session,
        customer_id,
        recommendation_id,
        approve=False,
        decided_by=decided_by,
        comment=comment,
    )


def _members(enum_cls: Any, value: Any, what: str) -> list[Any]:
    values = [value] if isinstance(value, str) else list(value)
    try:
        return [enum_cls(v) for v in values]
    except ValueError:
        raise ValidationError(
            f"unknown {what} in {values!r}; expected some of {', '.join(enum_cls)}"
        ) from None


def list_recommendations(
    session: Session,
    customer_id: uuid.UUID,
    /,
    *,
    status: RecommendationStatus | str | Sequence[RecommendationStatus | str] | None = None,
    priority: Priority | str | Sequence[Priority | str] | None = None,
    project_id: uuid.UUID | None = None,
    limit: int = 100,
) -> list[Recommendation]:
    """Most urgent first (CRITICAL .. LOW), then newest first within a priority.

    A ``project_id`` that is not the customer's is :class:`NotFound`, as for
    the event log, rather than an empty list.
    """
    require(1 <= limit <= MAX_PAGE_SIZE, f"limit must be between 1 and {MAX_PAGE_SIZE}")
    if project_id is not None:
        get_or_raise(session, Project, project_id, customer_id=customer_id)
    stmt = select(Recommendation).where(Recommendation.customer_id == customer_id)
    if status is not None:
        statuses = _members(RecommendationStatus, status, "recommendation status")
        stmt = stmt.where(Recommendation.status.in_(statuses))
    if priority is not None:
        stmt = stmt.where(Recommendation.priority.in_(_members(Priority, priority, "priority")))
    if project_id is not None:
        stmt = stmt.where(Recommendation.project_id == project_id)
    rank = case(
        {level.value: value for level, value in PRIORITY_RANK.items()},
        value=Recommendation.priority,
        else_=-1,
    )
    stmt = stmt.order_by(rank.desc(), Recommendation.id.desc()).limit(limit)
    return list((session.scalars(stmt)).all())


def pending_approvals(
    session: Session, customer_id: uuid.UUID, /, limit: int = 100
) -> list[Approval]:
    """The approval queue, oldest request first, each with its recommendation loaded."""
    require(1 <= limit <= MAX_PAGE_SIZE, f"limit must be between 1 and {MAX_PAGE_SIZE}")
    stmt = (
        select(Approval)
        .join(Approval.recommendation)
        .options(contains_eager(Approval.recommendation))
        .where(
            Approval.customer_id == customer_id,
            equals_constant(Approval.status, ApprovalStatus.PENDING),
        )
        .order_by(Approval.created_at, Approval.id)
        .limit(limit)
    )
    return list((session.scalars(stmt)).all())


def approvals_for(
    session: Session, customer_id: uuid.UUID, /, recommendation_id: uuid.UUID
) -> list[Approval]:
    """Every approval request of one recommendation, oldest first."""
    get_recommendation(session, customer_id, recommendation_id)
    stmt = (
        select(Approval)
        .where(Approval.recommendation_id == recommendation_id)
        .order_by(Approval.created_at, Approval.id)
    )
    return list((session.scalars(stmt)).all())


__all__ = [
    "approvals_for",
    "approve_recommendation",
    "create_recommendation",
    "decide",
    "get_recommendation",
    "list_recommendations",
    "lock_recommendation",
    "money",
    "pending_approvals",
    "reject_recommendation",
    "set_recommendation_status",
]

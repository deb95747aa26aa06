"""Optimizations (seed 002): the execution of an approved recommendation.

An optimization and its recommendation move together: starting one puts
the recommendation in EXECUTING, and completing, failing or rolling back the
optimization does the same to the recommendation, in the same transaction.
Both transition tables are checked before either row is touched, so a
refused step writes nothing. Lock order is recommendation, then optimization.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from flightlog.enums import EventType, OptimizationStatus, RecommendationStatus
from flightlog.errors import Conflict, ValidationError
from flightlog.models import Agent, Optimization, Recommendation
from flightlog.services import events
from flightlog.services._common import get_or_raise, require
from flightlog.services.lifecycle import (
    OPTIMIZATION_LIFECYCLE,
    RECOMMENDATION_FOLLOWS,
    RECOMMENDATION_LIFECYCLE,
    move,
)
from flightlog.services.recommendations import (
    MAX_PAGE_SIZE,
    lock_recommendation,
    money,
    set_recommendation_status,
)


def _reason(value: Any, name: str) -> str:
    require(
        isinstance(value, str) and bool(value.strip()),
        f"{name} is required: say why, for the audit trail",
    )
    return str(value)


def start_optimization(
    session: Session,
    customer_id: uuid.UUID,
    /,
    recommendation_id: uuid.UUID,
    *,
    agent_id: uuid.UUID | None = None,
    actor: str | None = None,
) -> Optimization:
    """Queue the execution of an APPROVED recommendation, which becomes EXECUTING.

    Anything but an approved recommendation raises :class:`InvalidTransition`:
    a PENDING one still needs a person's approval, and a recommendation is
    executed at most once.
    """
    if agent_id is not None:
        get_or_raise(session, Agent, agent_id, customer_id=customer_id)
    rec = lock_recommendation(session, customer_id, recommendation_id)
    RECOMMENDATION_LIFECYCLE.check(rec.status, RecommendationStatus.EXECUTING)
    optimization = Optimization(
        recommendation_id=rec.id,
        customer_id=customer_id,
        agent_id=agent_id,
        status=OptimizationStatus.QUEUED,
        progress=0,
    )
    session.add(optimization)
    session.flush()
    events.record_transition(
        session,
        entity=OPTIMIZATION_LIFECYCLE.entity,
        entity_id=optimization.id,
        from_status=None,
        to_status=OptimizationStatus.QUEUED,
        customer_id=customer_id,
        actor=actor,
        data={"recommendation_id": str(rec.id)},
    )
    set_recommendation_status(
        session,
        rec,
        RecommendationStatus.EXECUTING,
        actor=actor,
        data={"optimization_id": str(optimization.id)},
    )
    session.flush()
    return optimization


def get_optimization(
    session: Session, customer_id: uuid.UUID, /, optimization_id: uuid.UUID
) -> Optimization:
    """The optimization, or :class:`NotFound` (also for another customer's)."""
    return get_or_raise(session, Optimization, optimization_id, customer_id=customer_id)


def _lock(
    session: Session, optimization_id: uuid.UUID, customer_id: uuid.UUID
) -> tuple[Recommendation, Optimization]:
    found = get_optimization(session, customer_id, optimization_id)
    rec = lock_recommendation(session, customer_id, found.recommendation_id)
    locked = session.get(
        Optimization, optimization_id, with_for_update=True, populate_existing=True
    )
    assert locked is not None
    return rec, locked


def _move_both(
    session: Session,
    rec: Recommendation,
    optimization: Optimization,
    target: OptimizationStatus,
    *,
    actor: str | None,
    data: dict[str, Any] | None = None,
) -> None:
    """Check both tables, then change both rows (and their timestamps) and log both changes."""
    OPTIMIZATION_LIFECYCLE.check(optimization.status, target)
    follows = RECOMMENDATION_FOLLOWS.get(target)
    if follows is not None:
        RECOMMENDATION_LIFECYCLE.check(rec.status, follows)
    move(
        session,
        OPTIMIZATION_LIFECYCLE,
        optimization,
        target,
        customer_id=optimization.customer_id,
        actor=actor,
        data={"recommendation_id": str(rec.id), **(data or {})},
    )
    if follows is not None:
        set_recommendation_status(
            session,
            rec,
            follows,
            actor=actor,
            data={"optimization_id": str(optimization.id), **(data or {})},
        )


def begin(
    session: Session,
    customer_id: uuid.UUID,
    /,
    optimization_id: uuid.UUID,
    *,
    actor: str | None = None,
) -> Optimization:
    """The executor picked the optimization up: QUEUED -> EXECUTING."""
    rec, optimization = _lock(session, optimization_id, customer_id)
    _move_both(session, rec, optimization, OptimizationStatus.EXECUTING, actor=actor)
    session.flush()
    return optimization


def report_progress(
    session: Session,
    customer_id: uuid.UUID,
    /,
    optimization_id: uuid.UUID,
    progress: int,
    *,
    actor: str | None = None,
) -> Optimization:
    """Record how far an EXECUTING optimization is, as a whole percentage.

    Progress never goes backwards: a late, stale report from a slow worker
    must not undo a newer one.
    """
    require(
        isinstance(progress, int) and not isinstance(progress, bool) and 0 <= progress <= 100,
        f"progress must be a whole number from 0 to 100, got {progress!r}",
    )
    _rec, optimization = _lock(session, optimization_id, customer_id)
    if optimization.status is not OptimizationStatus.EXECUTING:
        raise Conflict(
            f"Optimization {optimization_id} is {optimization.status.value}; "
            "progress is reported only while it is EXECUTING",
            status=optimization.status.value,
        )
    if progress < optimization.progress:
        raise ValidationError(
            f"progress cannot go backwards: it is {optimization.progress}, got {progress}",
            current=optimization.progress,
        )
    previous = optimization.progress
    optimization.progress = progress
    events.append(
        session,
        events.NewEvent(
            event_type=EventType.AUDIT,
            content=f"Optimization progress {previous} -> {progress}",
            data={"entity": "Optimization", "progress": progress, "previous": previous},
            customer_id=customer_id,
            entity_type="Optimization",
            entity_id=str(optimization.id),
            actor=actor,
        ),
    )
    return optimization


def complete(
    session: Session,
    customer_id: uuid.UUID,
    /,
    optimization_id: uuid.UUID,
    *,
    result: dict[str, Any] | None = None,
    actual_savings: Decimal | int | str | float | None = None,
    actor: str | None = None,
) -> Optimization:
    """The optimization finished: 100 %, its result and measured savings; the
    recommendation is COMPLETED."""
    require(result is None or isinstance(result, dict), "result must be a JSON object")
    savings = money(actual_savings, "actual_savings")
    rec, optimization = _lock(session, optimization_id, customer_id)
    _move_both(
        session,
        rec,
        optimization,
        OptimizationStatus.COMPLETED,
        actor=actor,
        data={"actual_savings": str(savings) if savings is not None else None},
    )
    optimization.progress = 100
    optimization.result = result or {}
    optimization.actual_savings = savings
    session.flush()
    return optimization


def fail(
    session: Session,
    customer_id: uuid.UUID,
    /,
    optimization_id: uuid.UUID,
    *,
    error_message: str,
    actor: str | None = None,
) -> Optimization:
    """The optimization failed (queued or executing); so did its recommendation."""
    message = _reason(error_message, "error_message")
    rec, optimization = _lock(session, optimization_id, customer_id)
    _move_both(
        session,
        rec,
        optimization,
        OptimizationStatus.FAILED,
        actor=actor,
        data={"error_message": message},
    )
    optimization.error_message = message
    session.flush()
    return optimization


def rollback(
    session: Session,
    customer_id: uuid.UUID,
    /,
    optimization_id: uuid.UUID,
    *,
    reason: str,
    actor: str | None = None,
) -> Optimization:
    """Undo a COMPLETED optimization; it and its recommendation become ROLLED_BACK."""
    why = _reason(reason, "reason")
    rec, optimization = _lock(session, optimization_id, customer_id)
    _move_both(
        session,
        rec,
        optimization,
        OptimizationStatus.ROLLED_BACK,
        actor=actor,
        data={"reason": why},
    )
    optimization.rollback_reason = why
    session.flush()
    return optimization


def list_optimizations(
    session: Session,
    customer_id: uuid.UUID,
    /,
    *,
    status: OptimizationStatus | str | Sequence[OptimizationStatus | str] | None = None,
    recommendation_id: uuid.UUID | None = None,
    limit: int = 100,
) -> list[Optimization]:
    """Newest first, optionally for one recommendation or some statuses.

    A ``recommendation_id`` that is not the customer's is :class:`NotFound`,
    as for the event log, rather than an empty list.
    """
    require(1 <= limit <= MAX_PAGE_SIZE, f"limit must be between 1 and {MAX_PAGE_SIZE}")
    if recommendation_id is not None:
        get_or_raise(session, Recommendation, recommendation_id, customer_id=customer_id)
    stmt = select(Optimization).where(Optimization.customer_id == customer_id)
    if status is not None:
        values = [status] if isinstance(status, str) else list(status)
        try:
            statuses = [OptimizationStatus(v) for v in values]
        except ValueError:
            raise ValidationError(
                f"unknown optimization status in {values!r}; "
                f"expected some of {', '.join(OptimizationStatus)}"
            ) from None
        stmt = stmt.where(Optimization.status.in_(statuses))
    if recommendation_id is not None:
        stmt = stmt.where(Optimization.recommendation_id == recommendation_id)
    stmt = stmt.order_by(Optimization.id.desc()).limit(limit)
    return list((session.scalars(stmt)).all())


__all__ = [
    "begin",
    "complete",
    "fail",
    "get_optimization",
    "list_optimizations",
    "report_progress",
    "rollback",
    "start_optimization",
]

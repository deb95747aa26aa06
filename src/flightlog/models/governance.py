"""Recommendations, their approvals and the optimizations that execute them (seed 002)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import CheckConstraint, Index, Numeric, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from flightlog.db.base import Base, CreatedAt, Timestamps, UuidPk, str_enum
from flightlog.enums import ApprovalStatus, OptimizationStatus, Priority, RecommendationStatus
from flightlog.models._columns import owner_fk, shared_fk

if TYPE_CHECKING:
    from flightlog.models.agent import Agent
    from flightlog.models.tenancy import Customer


class Recommendation(UuidPk, Timestamps, Base):
    """An agent's proposal to a customer, which a human approves or rejects."""

    __tablename__ = "recommendations"
    __table_args__ = (
        CheckConstraint(
            "confidence_score >= 0 AND confidence_score <= 1", name="confidence_score_range"
        ),
        CheckConstraint(
            "estimated_savings IS NULL OR estimated_savings >= 0",
            name="estimated_savings_nonnegative",
        ),
        Index("ix_recommendations_customer_status", "customer_id", "status"),
        Index("ix_recommendations_data_gin", "data", postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
    )

    customer_id: Mapped[uuid.UUID] = owner_fk("customers.id", index=False)
    agent_id: Mapped[uuid.UUID | None] = shared_fk("agents.id")
    project_id: Mapped[uuid.UUID | None] = owner_fk("projects.id", nullable=True)
    recommendation_type: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[Priority] = mapped_column(
        str_enum(Priority, "priority"), default=Priority.MEDIUM, server_default="MEDIUM"
    )
    status: Mapped[RecommendationStatus] = mapped_column(
        str_enum(RecommendationStatus, "status"),
        default=RecommendationStatus.PENDING,
        server_default="PENDING",
    )
    confidence_score: Mapped[float]
    estimated_savings: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)

    customer: Mapped[Customer] = relationship(lazy="raise_on_sql")
    agent: Mapped[Agent | None] = relationship(lazy="raise_on_sql")
    approvals: Mapped[list[Approval]] = relationship(
        back_populates="recommendation", passive_deletes=True, lazy="raise_on_sql"
    )
    optimizations: Mapped[list[Optimization]] = relationship(
        back_populates="recommendation", passive_deletes=True, lazy="raise_on_sql"
    )


class Approval(UuidPk, CreatedAt, Base):
    """A human decision on a recommendation: who decided, when, and why."""

    __tablename__ = "approvals"
    __table_args__ = (
        # The approval queue: one customer's PENDING approvals, oldest first (migration 0009).
        Index(
            "ix_approvals_pending",
            "customer_id",
            "created_at",
            postgresql_where=text("status = 'PENDING'"),
            sqlite_where=text("status = 'PENDING'"),
        ),
    )

    recommendation_id: Mapped[uuid.UUID] = owner_fk("recommendations.id")
    customer_id: Mapped[uuid.UUID] = owner_fk("customers.id")
    status: Mapped[ApprovalStatus] = mapped_column(
        str_enum(ApprovalStatus, "status"),
        default=ApprovalStatus.PENDING,
        server_default="PENDING",
    )
    decided_by: Mapped[str | None] = mapped_column(String(255))
    decided_at: Mapped[datetime | None]
    comment: Mapped[str | None] = mapped_column(Text)

    recommendation: Mapped[Recommendation] = relationship(
        back_populates="approvals", lazy="raise_on_sql"
    )


class Optimization(UuidPk, Timestamps, Base):
    """The execution of an approved recommendation, with progress and measured savings."""

    __tablename__ = "optimizations"
    __table_args__ = (
        CheckConstraint("progress >= 0 AND progress <= 100", name="progress_range"),
        CheckConstraint(
            "actual_savings IS NULL OR actual_savings >= 0", name="actual_savings_nonnegative"
        ),
        Index("ix_optimizations_customer_status", "customer_id", "status"),
    )

    recommendation_id: Mapped[uuid.UUID] = owner_fk("recommendations.id")
    customer_id: Mapped[uuid.UUID] = owner_fk("customers.id", index=False)
    agent_id: Mapped[uuid.UUID | None] = shared_fk("agents.id")
    status: Mapped[OptimizationStatus] = mapped_column(
        str_enum(OptimizationStatus, "status"),
        default=OptimizationStatus.QUEUED,
        server_default="QUEUED",
    )
    progress: Mapped[int] = mapped_column(default=0, server_default="0")
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    actual_savings: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    error_message: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    rolled_back_at: Mapped[datetime | None]
    rollback_reason: Mapped[str | None] = mapped_column(Text)

    recommendation: Mapped[Recommendation] = relationship(
        back_populates="optimizations", lazy="raise_on_sql"
    )

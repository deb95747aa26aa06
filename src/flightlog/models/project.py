"""Projects (seeds 003, 004) and their per-iteration contexts (seed 003)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import CheckConstraint, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from flightlog.db.base import Base, Timestamps, UuidPk
from flightlog.models._columns import owner_fk

if TYPE_CHECKING:
    from flightlog.models.modification import Modification
    from flightlog.models.pull_request import PullRequest
    from flightlog.models.tenancy import Customer


class Project(UuidPk, Timestamps, Base):
    """A codebase a team works on; names are unique within a customer."""

    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("customer_id", "name"),)

    customer_id: Mapped[uuid.UUID] = owner_fk("customers.id", index=False)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    repository_url: Mapped[str | None] = mapped_column(String(500))
    repository_name: Mapped[str | None] = mapped_column(String(255))
    default_branch: Mapped[str] = mapped_column(String(100), default="main", server_default="main")
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    owner: Mapped[str | None] = mapped_column(String(255))

    customer: Mapped[Customer] = relationship(back_populates="projects", lazy="raise_on_sql")
    contexts: Mapped[list[ProjectContext]] = relationship(
        back_populates="project",
        passive_deletes=True,
        lazy="raise_on_sql",
        order_by="ProjectContext.iteration",
    )
    modifications: Mapped[list[Modification]] = relationship(
        back_populates="project", passive_deletes=True, lazy="raise_on_sql"
    )
    pull_requests: Mapped[list[PullRequest]] = relationship(
        back_populates="project", passive_deletes=True, lazy="raise_on_sql"
    )


class ProjectContext(UuidPk, Timestamps, Base):
    """The state of a project at one iteration: code, configuration and quality scores."""

    __tablename__ = "project_contexts"
    __table_args__ = (
        UniqueConstraint("project_id", "iteration"),
        CheckConstraint("iteration >= 1", name="iteration_positive"),
        CheckConstraint(
            "test_coverage IS NULL OR (test_coverage >= 0 AND test_coverage <= 100)",
            name="test_coverage_range",
        ),
        CheckConstraint(
            "security_score IS NULL OR (security_score >= 0 AND security_score <= 100)",
            name="security_score_range",
        ),
        CheckConstraint(
            "performance_score IS NULL OR (performance_score >= 0 AND performance_score <= 100)",
            name="performance_score_range",
        ),
        Index("ix_project_contexts_codebase_gin", "codebase", postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
        Index(
            "ix_project_contexts_configuration_gin", "configuration", postgresql_using="gin"
        ).ddl_if(dialect="postgresql"),
    )

    project_id: Mapped[uuid.UUID] = owner_fk("projects.id", index=False)
    iteration: Mapped[int]
    codebase: Mapped[dict[str, Any]] = mapped_column(default=dict)
    configuration: Mapped[dict[str, Any]] = mapped_column(default=dict)
    test_coverage: Mapped[float | None]
    security_score: Mapped[float | None]
    performance_score: Mapped[float | None]
    owner_id: Mapped[str | None] = mapped_column(String(255), index=True)
    notes: Mapped[str | None] = mapped_column(Text)

    project: Mapped[Project] = relationship(back_populates="contexts", lazy="raise_on_sql")

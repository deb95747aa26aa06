"""Pull requests and the validation checks run against them (seed 004)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import CheckConstraint, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from flightlog.db.base import Base, Timestamps, UuidPk, str_enum
from flightlog.enums import PullRequestStatus, ValidationStatus
from flightlog.models._columns import owner_fk, shared_fk

if TYPE_CHECKING:
    from flightlog.models.project import Project
    from flightlog.models.task import Task


class PullRequest(UuidPk, Timestamps, Base):
    """A change proposed to a repository, validated before merge.

    ``validation_results`` keeps the free-form JSON the reference system
    stored; the per-check rows in ``pull_request_checks`` are what the
    ``pr_validation_status`` view aggregates.
    """

    __tablename__ = "pull_requests"
    __table_args__ = (
        UniqueConstraint("project_id", "repository_url", "pr_number"),
        CheckConstraint("pr_number IS NULL OR pr_number >= 1", name="pr_number_positive"),
        Index("ix_pull_requests_project_status", "project_id", "status"),
    )

    project_id: Mapped[uuid.UUID] = owner_fk("projects.id", index=False)
    task_id: Mapped[uuid.UUID | None] = shared_fk("tasks.id")
    run_id: Mapped[uuid.UUID | None] = shared_fk("task_runs.id")
    pr_number: Mapped[int | None]
    repository_url: Mapped[str] = mapped_column(String(500))
    branch_name: Mapped[str] = mapped_column(String(255))
    base_branch: Mapped[str] = mapped_column(String(255), default="main", server_default="main")
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[PullRequestStatus] = mapped_column(
        str_enum(PullRequestStatus, "status"),
        default=PullRequestStatus.DRAFT,
        server_default="DRAFT",
    )
    validation_results: Mapped[dict[str, Any]] = mapped_column(default=dict)
    author: Mapped[str | None] = mapped_column(String(255))
    merged_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]

    project: Mapped[Project] = relationship(back_populates="pull_requests", lazy="raise_on_sql")
    task: Mapped[Task | None] = relationship(lazy="raise_on_sql")
    checks: Mapped[list[PullRequestCheck]] = relationship(
        back_populates="pull_request",
        passive_deletes=True,
        lazy="raise_on_sql",
        order_by="PullRequestCheck.name",
    )


class PullRequestCheck(UuidPk, Timestamps, Base):
    """One named validation (tests, lint, security scan…) and its latest outcome."""

    __tablename__ = "pull_request_checks"
    __table_args__ = (UniqueConstraint("pull_request_id", "name"),)

    pull_request_id: Mapped[uuid.UUID] = owner_fk("pull_requests.id", index=False)
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[ValidationStatus] = mapped_column(
        str_enum(ValidationStatus, "status"),
        default=ValidationStatus.PENDING,
        server_default="PENDING",
    )
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)

    pull_request: Mapped[PullRequest] = relationship(back_populates="checks", lazy="raise_on_sql")

"""Change requests on a project, approved before they are applied (seed 003)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from flightlog.db.base import Base, Timestamps, UuidPk, str_enum
from flightlog.enums import ModificationStatus
from flightlog.models._columns import owner_fk

if TYPE_CHECKING:
    from flightlog.models.project import Project, ProjectContext


class Modification(UuidPk, Timestamps, Base):
    """A requested change, its impact analysis and the files it touches."""

    __tablename__ = "modifications"
    __table_args__ = (
        Index("ix_modifications_project_status", "project_id", "status"),
        Index(
            "ix_modifications_impact_analysis_gin", "impact_analysis", postgresql_using="gin"
        ).ddl_if(dialect="postgresql"),
    )

    project_id: Mapped[uuid.UUID] = owner_fk("projects.id", index=False)
    project_context_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("project_contexts.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str | None] = mapped_column(String(500))
    request: Mapped[str] = mapped_column(Text)
    impact_analysis: Mapped[dict[str, Any]] = mapped_column(default=dict)
    affected_files: Mapped[list[str]] = mapped_column(default=list)
    status: Mapped[ModificationStatus] = mapped_column(
        str_enum(ModificationStatus, "status"),
        default=ModificationStatus.PENDING,
        server_default="PENDING",
    )
    requested_by: Mapped[str | None] = mapped_column(String(255))
    decided_by: Mapped[str | None] = mapped_column(String(255))
    decided_at: Mapped[datetime | None]
    decision_comment: Mapped[str | None] = mapped_column(Text)
    applied_at: Mapped[datetime | None]
    result: Mapped[dict[str, Any] | None]
    error_message: Mapped[str | None] = mapped_column(Text)

    project: Mapped[Project] = relationship(back_populates="modifications", lazy="raise_on_sql")
    project_context: Mapped[ProjectContext | None] = relationship(lazy="raise_on_sql")

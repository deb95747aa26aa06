"""Generated files (seed 000), versioned by name and stored by content hash."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from flightlog.db.base import Base, CreatedAt, UuidPk, str_enum
from flightlog.enums import ArtifactType
from flightlog.models._columns import owner_fk, shared_fk

if TYPE_CHECKING:
    from flightlog.models.run import TaskRun
    from flightlog.models.task import Task


class ArtifactBlob(CreatedAt, Base):
    """Content stored once per SHA-256: inline when small, in the blob directory when large."""

    __tablename__ = "artifact_blobs"
    __table_args__ = (
        CheckConstraint("length(sha256) = 64", name="sha256_length"),
        CheckConstraint("size_bytes >= 0", name="size_nonnegative"),
        CheckConstraint("(content IS NULL) <> (storage_path IS NULL)", name="inline_xor_stored"),
    )

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    storage_path: Mapped[str | None] = mapped_column(String(500))


class Artifact(UuidPk, CreatedAt, Base):
    """A named file a task produced. A new upload under the same name is a new version."""

    __tablename__ = "artifacts"
    __table_args__ = (
        UniqueConstraint("task_id", "name", "version"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("size_bytes >= 0", name="size_nonnegative"),
        Index("ix_artifacts_run_id", "run_id"),
    )

    task_id: Mapped[uuid.UUID] = owner_fk("tasks.id", index=False)
    run_id: Mapped[uuid.UUID | None] = owner_fk(
        "task_runs.id", nullable=True, index=False, deferrable=True
    )
    agent_run_id: Mapped[uuid.UUID | None] = shared_fk("agent_runs.id")
    name: Mapped[str] = mapped_column(String(500))
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    artifact_type: Mapped[ArtifactType] = mapped_column(
        str_enum(ArtifactType, "artifact_type"), default=ArtifactType.OTHER, server_default="OTHER"
    )
    file_path: Mapped[str | None] = mapped_column(String(1000))
    content_type: Mapped[str] = mapped_column(
        String(255), default="application/octet-stream", server_default="application/octet-stream"
    )
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(
        ForeignKey("artifact_blobs.sha256", ondelete="RESTRICT"), index=True
    )
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)

    task: Mapped[Task] = relationship(back_populates="artifacts", lazy="raise_on_sql")
    run: Mapped[TaskRun | None] = relationship(back_populates="artifacts", lazy="raise_on_sql")
    blob: Mapped[ArtifactBlob] = relationship(lazy="raise_on_sql")

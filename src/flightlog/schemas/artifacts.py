"""Artifacts: a version of a named file of a task (its content travels as the raw body)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from flightlog.enums import ArtifactType
from flightlog.schemas._base import Out


class ArtifactOut(Out):
    id: uuid.UUID
    task_id: uuid.UUID
    run_id: uuid.UUID | None
    name: str
    version: int
    artifact_type: ArtifactType
    file_path: str | None
    content_type: str
    size_bytes: int
    sha256: str
    metadata: dict[str, Any] = Field(validation_alias="metadata_")
    created_at: datetime

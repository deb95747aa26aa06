"""``GET /health``: whether the database answers, and its schema revision."""

from __future__ import annotations

from pydantic import BaseModel


class Health(BaseModel):
    status: str
    database: str
    schema_revision: str | None

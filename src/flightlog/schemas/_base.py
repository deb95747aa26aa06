"""The two kinds of wire model: bodies a client sends, and answers read from the ORM rows."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class In(BaseModel):
    """A request body: an unknown field is a 422, not a value quietly ignored."""

    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    """A response read from an ORM row: only the fields listed, never the whole table."""

    model_config = ConfigDict(from_attributes=True)

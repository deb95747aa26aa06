"""Project templates: files with declared variables, rendered or turned into a project."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints, WithJsonSchema

from flightlog.schemas._base import In, Out
from flightlog.schemas.fields import (
    MAX_INT,
    NOT_BLANK,
    JsonInteger,
    NonBlank,
    NonBlank255,
    Text32,
    Text255,
    optional,
)
from flightlog.schemas.projects import ContextOut, ProjectOut, ProjectUpdate

#: Template variables are identifiers; placeholders in files are written ``{{name}}``.
Variable = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
_DISTINCT = {"uniqueItems": True}
#: File paths (not blank) to contents.
Files = Annotated[
    dict[Annotated[str, StringConstraints(pattern=NOT_BLANK)], str],
    WithJsonSchema(
        {
            "type": "object",
            "propertyNames": {"pattern": NOT_BLANK},
            "additionalProperties": {"type": "string"},
        }
    ),
]


class TemplateUpdate(In):
    """Every ``{{placeholder}}`` in the files must be a declared variable, and no variable
    may be both required and optional."""

    name: NonBlank255 = optional()
    description: str | None = None
    files: Files = optional(description="Path -> content; both may use {{variables}}.")
    required_variables: list[Variable] = optional(schema=_DISTINCT)
    optional_variables: list[Variable] = optional(schema=_DISTINCT)
    tech_stack: list[NonBlank] = optional(schema=_DISTINCT)
    tags: list[NonBlank] = optional(schema=_DISTINCT)
    complexity: Text32 | None = None
    setup_time_minutes: Annotated[int, Field(ge=0, le=MAX_INT), JsonInteger] | None = None


class TemplateIn(TemplateUpdate):
    name: NonBlank255


class TemplateOut(Out):
    id: uuid.UUID
    name: str
    description: str | None
    files: dict[str, Any]
    required_variables: list[str]
    optional_variables: list[str]
    tech_stack: list[str]
    tags: list[str]
    complexity: str | None
    setup_time_minutes: int | None
    created_at: datetime
    updated_at: datetime


class TemplatePageOut(BaseModel):
    items: list[TemplateOut]
    next_cursor: uuid.UUID | None


class Variables(In):
    variables: dict[str, Any] = Field(
        default_factory=dict,
        description="A string for each required variable of the template, and optional ones; "
        "no others.",
    )


class ProjectFromTemplateIn(ProjectUpdate):
    name: NonBlank255
    variables: dict[str, Any] = Field(
        default_factory=dict,
        description="A string for each required variable of the template, and optional ones; "
        "no others.",
    )
    configuration: dict[str, Any] | None = None
    owner_id: Text255 | None = None


class ProjectFromTemplateOut(BaseModel):
    project: ProjectOut
    context: ContextOut

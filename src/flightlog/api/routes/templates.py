"""Project templates: files with declared variables, rendered or turned into a project."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from flightlog.api.auth import TenantStore
from flightlog.schemas.projects import ContextOut, ProjectOut
from flightlog.schemas.templates import (
    ProjectFromTemplateIn,
    ProjectFromTemplateOut,
    TemplateIn,
    TemplateOut,
    TemplatePageOut,
    TemplateUpdate,
    Variables,
)

router = APIRouter(prefix="/templates", tags=["templates"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TemplateOut)
async def create_template(body: TemplateIn, store: TenantStore) -> TemplateOut:
    """Every ``{{placeholder}}`` in the files must be a declared variable."""
    fields = body.model_dump(exclude_none=True)
    return TemplateOut.model_validate(await store.templates.create(**fields))


@router.get("", response_model=TemplatePageOut)
async def list_templates(
    store: TenantStore,
    tag: str | None = None,
    tech_stack: str | None = None,
    cursor: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> TemplatePageOut:
    page = await store.templates.list(tag=tag, tech_stack=tech_stack, cursor=cursor, limit=limit)
    return TemplatePageOut(
        items=[TemplateOut.model_validate(t) for t in page.items], next_cursor=page.next_cursor
    )


@router.get("/{template_id}", response_model=TemplateOut)
async def get_template(template_id: uuid.UUID, store: TenantStore) -> TemplateOut:
    return TemplateOut.model_validate(await store.templates.get(template_id))


@router.patch("/{template_id}", response_model=TemplateOut)
async def update_template(
    template_id: uuid.UUID, body: TemplateUpdate, store: TenantStore
) -> TemplateOut:
    changes = body.model_dump(exclude_unset=True)
    return TemplateOut.model_validate(await store.templates.update(template_id, **changes))


@router.delete("/{template_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_template(template_id: uuid.UUID, store: TenantStore) -> Response:
    await store.templates.delete(template_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{template_id}/render", response_model=dict[str, str])
async def render(template_id: uuid.UUID, body: Variables, store: TenantStore) -> dict[str, str]:
    """The files with the variables filled in (path -> content); nothing is stored."""
    return await store.templates.render(template_id, body.variables)


@router.post(
    "/{template_id}/projects",
    status_code=status.HTTP_201_CREATED,
    response_model=ProjectFromTemplateOut,
)
async def create_project(
    template_id: uuid.UUID, body: ProjectFromTemplateIn, store: TenantStore
) -> ProjectFromTemplateOut:
    """A new project whose first context iteration holds the rendered files, atomically."""
    made = await store.templates.create_project(template_id, **body.model_dump(exclude_none=True))
    return ProjectFromTemplateOut(
        project=ProjectOut.model_validate(made.project),
        context=ContextOut.model_validate(made.context),
    )

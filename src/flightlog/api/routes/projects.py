"""Projects, their context iterations and their modification requests."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from flightlog.api.auth import TenantStore
from flightlog.api.paging import CountTotal, NextCursor, PreviousCursor
from flightlog.enums import ModificationStatus
from flightlog.schemas.modifications import (
    Applied,
    ModificationFailure,
    ModificationIn,
    ModificationOut,
    ModificationPageOut,
)
from flightlog.schemas.projects import (
    ContextIn,
    ContextOut,
    ContextPageOut,
    ProjectIn,
    ProjectOut,
    ProjectPageOut,
    ProjectUpdate,
)
from flightlog.schemas.recommendations import Decision
from flightlog.services.project_contexts import ContextComparison

router = APIRouter(tags=["projects"])
#: Iterations are INTEGER.
MAX_ITERATION = 2**31 - 1


@router.post("/projects", status_code=status.HTTP_201_CREATED, response_model=ProjectOut)
async def create_project(body: ProjectIn, store: TenantStore) -> ProjectOut:
    """Names are unique per customer: a taken one is a 409."""
    fields = body.model_dump(exclude_none=True)
    return ProjectOut.model_validate(await store.projects.create(**fields))


@router.get("/projects", response_model=ProjectPageOut)
async def list_projects(
    store: TenantStore,
    owner: Annotated[
        str | None, Query(max_length=255, description="Only this owner's projects (exactly).")
    ] = None,
    cursor: NextCursor = None,
    before: PreviousCursor = None,
    total: CountTotal = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> ProjectPageOut:
    """Newest first, a page at a time both ways."""
    page = await store.projects.list(
        owner=owner, cursor=cursor, before=before, total=total, limit=limit
    )
    return ProjectPageOut(
        items=[ProjectOut.model_validate(p) for p in page.items],
        next_cursor=page.next_cursor,
        previous_cursor=page.previous_cursor,
        total=page.total,
        offset=page.offset,
    )


@router.get("/projects/{project_id}", response_model=ProjectOut)
async def get_project(project_id: uuid.UUID, store: TenantStore) -> ProjectOut:
    return ProjectOut.model_validate(await store.projects.get(project_id))


@router.patch("/projects/{project_id}", response_model=ProjectOut)
async def update_project(
    project_id: uuid.UUID, body: ProjectUpdate, store: TenantStore
) -> ProjectOut:
    changes = body.model_dump(exclude_unset=True)
    return ProjectOut.model_validate(await store.projects.update(project_id, **changes))


@router.delete("/projects/{project_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_project(project_id: uuid.UUID, store: TenantStore) -> Response:
    """Delete the project with its contexts, modifications, pull requests and tasks."""
    await store.projects.delete(project_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/projects/{project_id}/contexts",
    status_code=status.HTTP_201_CREATED,
    response_model=ContextOut,
)
async def add_iteration(project_id: uuid.UUID, body: ContextIn, store: TenantStore) -> ContextOut:
    """The project's next context iteration (codebase, configuration, scores)."""
    fields = body.model_dump(exclude_none=True)
    return ContextOut.model_validate(
        await store.project_contexts.add_iteration(project_id, **fields)
    )


#: Only this owner's contexts (seed 003's ``WHERE owner_id = $1``).
OwnerId = Annotated[
    str | None, Query(max_length=255, description="Only this owner's contexts (exactly).")
]


@router.get("/projects/{project_id}/contexts", response_model=list[ContextOut])
async def list_iterations(
    project_id: uuid.UUID, store: TenantStore, owner_id: OwnerId = None
) -> list[ContextOut]:
    """The project's iterations, oldest first."""
    iterations = await store.project_contexts.list(project_id, owner_id=owner_id)
    return [ContextOut.model_validate(c) for c in iterations]


@router.get("/project-contexts", response_model=ContextPageOut)
async def list_contexts(
    store: TenantStore,
    owner_id: OwnerId = None,
    project_id: Annotated[uuid.UUID | None, Query(description="Only this project's.")] = None,
    cursor: NextCursor = None,
    before: PreviousCursor = None,
    total: CountTotal = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> ContextPageOut:
    """Contexts of all your projects, newest first, a page at a time both ways."""
    page = await store.project_contexts.page(
        owner_id=owner_id,
        project_id=project_id,
        cursor=cursor,
        before=before,
        total=total,
        limit=limit,
    )
    return ContextPageOut(
        items=[ContextOut.model_validate(c) for c in page.items],
        next_cursor=page.next_cursor,
        previous_cursor=page.previous_cursor,
        total=page.total,
        offset=page.offset,
    )


@router.get("/projects/{project_id}/contexts/compare", response_model=ContextComparison)
async def compare(
    project_id: uuid.UUID,
    store: TenantStore,
    from_iteration: Annotated[int, Query(ge=1, le=MAX_ITERATION)],
    to_iteration: Annotated[int, Query(ge=1, le=MAX_ITERATION)],
) -> ContextComparison:
    """Score deltas and changed JSON keys between two iterations."""
    return await store.project_contexts.compare(project_id, from_iteration, to_iteration)


@router.get("/projects/{project_id}/contexts/{iteration}", response_model=ContextOut)
async def get_iteration(
    project_id: uuid.UUID,
    iteration: Annotated[int, Path(ge=1, le=MAX_ITERATION)],
    store: TenantStore,
) -> ContextOut:
    return ContextOut.model_validate(await store.project_contexts.get(project_id, iteration))


@router.post(
    "/projects/{project_id}/modifications",
    status_code=status.HTTP_201_CREATED,
    response_model=ModificationOut,
)
async def request_modification(
    project_id: uuid.UUID, body: ModificationIn, store: TenantStore
) -> ModificationOut:
    """A PENDING change request, to be approved or rejected by a person."""
    fields = body.model_dump(exclude_none=True)
    return ModificationOut.model_validate(await store.modifications.request(project_id, **fields))


@router.get("/projects/{project_id}/modifications", response_model=ModificationPageOut)
async def list_modifications(
    project_id: uuid.UUID,
    store: TenantStore,
    modification_status: Annotated[list[ModificationStatus] | None, Query(alias="status")] = None,
    affected_file: Annotated[
        str | None,
        Query(max_length=1000, description="Only those whose affected_files hold this path."),
    ] = None,
    cursor: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> ModificationPageOut:
    page = await store.modifications.list(
        project_id,
        status=modification_status,
        affected_file=affected_file,
        cursor=cursor,
        limit=limit,
    )
    return ModificationPageOut(
        items=[ModificationOut.model_validate(m) for m in page.items], next_cursor=page.next_cursor
    )


@router.get("/modifications/{modification_id}", response_model=ModificationOut)
async def get_modification(modification_id: uuid.UUID, store: TenantStore) -> ModificationOut:
    return ModificationOut.model_validate(await store.modifications.get(modification_id))


@router.post("/modifications/{modification_id}/decision", response_model=ModificationOut)
async def decide_modification(
    modification_id: uuid.UUID, body: Decision, store: TenantStore
) -> ModificationOut:
    decided = await store.modifications.decide(modification_id, **body.model_dump())
    return ModificationOut.model_validate(decided)


@router.post("/modifications/{modification_id}/applied", response_model=ModificationOut)
async def apply_modification(
    modification_id: uuid.UUID, body: Applied, store: TenantStore
) -> ModificationOut:
    """APPROVED -> APPLIED: the change is in the codebase."""
    applied = await store.modifications.apply(modification_id, **body.model_dump())
    return ModificationOut.model_validate(applied)


@router.post("/modifications/{modification_id}/failed", response_model=ModificationOut)
async def fail_modification(
    modification_id: uuid.UUID, body: ModificationFailure, store: TenantStore
) -> ModificationOut:
    failed = await store.modifications.fail(modification_id, **body.model_dump())
    return ModificationOut.model_validate(failed)

"""Tasks: create, read, page through, change, cancel, delete."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from flightlog.api.auth import TenantStore
from flightlog.api.json_depth import nested_deeper_than
from flightlog.api.paging import NextCursor
from flightlog.enums import TaskStatus
from flightlog.errors import ValidationError
from flightlog.schemas.fields import QueryTime
from flightlog.schemas.tasks import CancelIn, TaskCreate, TaskOut, TaskPageOut, TaskUpdate
from flightlog.services.task_list import MAX_INT, TaskSort
from flightlog.services.tasks import MAX_PAGE_SIZE

router = APIRouter(prefix="/tasks", tags=["tasks"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TaskOut)
async def create_task(body: TaskCreate, store: TenantStore) -> TaskOut:
    """A new PENDING task; without a title, the prompt's first line becomes one."""
    task = await store.tasks.create(**body.model_dump(exclude_unset=True))
    return TaskOut.model_validate(task)


#: The longest ``requirements_contains`` (JSON text) the task list takes.
MAX_CONTAINS_CHARS = 4096
#: ``requirements_contains`` is a JSON object in the query: described as such here, since
#: FastAPI would describe the parameter as the plain string it reads.
_JSON_FILTERS: dict[str, Any] = {
    "parameters": [
        {
            "name": "requirements_contains",
            "in": "query",
            "required": False,
            "description": "Tasks whose requirements contain this JSON object, as PostgreSQL's "
            '@> means it: requirements_contains={"type":"feature","priority":1} '
            "(URL-encoded). Nested objects and arrays are contained, scalars match "
            '1 = 1.0 but not "1" nor true.',
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    ]
}


def json_object_query(text: str | None, name: str) -> dict[str, Any] | None:
    """A JSON object passed as query text; anything else is a 422 naming the parameter."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ValidationError(
            f"{name} is not valid JSON ({exc}); pass a JSON object, "
            f'e.g. {name}={{"type":"feature"}} (URL-encoded)',
            field=name,
        ) from None
    if nested_deeper_than(text.encode()):
        raise ValidationError(f"{name} nests too deeply", field=name)
    if not isinstance(value, dict):
        raise ValidationError(
            f'{name} must be a JSON object, e.g. {name}={{"type":"feature"}}', field=name
        )
    return value


@router.get("", response_model=TaskPageOut, openapi_extra=_JSON_FILTERS)
async def list_tasks(
    store: TenantStore,
    task_status: Annotated[list[TaskStatus] | None, Query(alias="status")] = None,
    project_id: uuid.UUID | None = None,
    tag: str | None = None,
    priority: Annotated[
        int | None, Query(ge=-MAX_INT, le=MAX_INT, description="Exactly this priority.")
    ] = None,
    min_priority: Annotated[
        int | None, Query(ge=-MAX_INT, le=MAX_INT, description="This priority or higher.")
    ] = None,
    parent_task_id: Annotated[uuid.UUID | None, Query(description="Its subtasks.")] = None,
    top_level_only: Annotated[bool, Query(description="Only tasks with no parent.")] = False,
    agent_id: Annotated[
        uuid.UUID | None, Query(description="Assigned to the agent, or run or worked on by it.")
    ] = None,
    requirements_contains: Annotated[
        str | None, Query(max_length=MAX_CONTAINS_CHARS, include_in_schema=False)
    ] = None,
    context_has: Annotated[
        list[str] | None,
        Query(description="Tasks whose context has this top-level key; repeat for all of several."),
    ] = None,
    tags_any: Annotated[
        list[str] | None, Query(description="Tasks with any of these tags; repeat the parameter.")
    ] = None,
    tags_all: Annotated[
        list[str] | None, Query(description="Tasks with all of these tags; repeat the parameter.")
    ] = None,
    created_since: Annotated[QueryTime | None, Query(description="Created at or after.")] = None,
    created_until: Annotated[QueryTime | None, Query(description="Created before.")] = None,
    updated_since: Annotated[
        QueryTime | None, Query(description="Last changed at or after.")
    ] = None,
    updated_until: Annotated[QueryTime | None, Query(description="Last changed before.")] = None,
    sort: Annotated[TaskSort, Query(description="Order by; ties go by id.")] = "created",
    descending: Annotated[bool, Query(description="Largest (newest) first.")] = True,
    cursor: NextCursor = None,
    before: Annotated[
        uuid.UUID | None,
        Query(
            description="A page's previous_cursor: the page before it (not with cursor). "
            "Sorted other than by creation, either must be one of your tasks (else 422)."
        ),
    ] = None,
    total: Annotated[bool, Query(description="Also count the matches and the offset.")] = False,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> TaskPageOut:
    """Newest first, or sorted, a page at a time either way; ``status`` may be repeated."""
    page = await store.tasks.list(
        status=task_status,
        project_id=project_id,
        tag=tag,
        priority=priority,
        min_priority=min_priority,
        parent_task_id=parent_task_id,
        top_level_only=top_level_only,
        agent_id=agent_id,
        requirements_contains=json_object_query(requirements_contains, "requirements_contains"),
        context_has=context_has,
        tags_any=tags_any,
        tags_all=tags_all,
        created_since=created_since,
        created_until=created_until,
        updated_since=updated_since,
        updated_until=updated_until,
        sort=sort,
        descending=descending,
        cursor=cursor,
        before=before,
        total=total,
        limit=limit,
    )
    return TaskPageOut(
        items=[TaskOut.model_validate(task) for task in page.items],
        next_cursor=page.next_cursor,
        previous_cursor=page.previous_cursor,
        total=page.total,
        offset=page.offset,
    )


@router.get("/{task_id}", response_model=TaskOut)
async def get_task(task_id: uuid.UUID, store: TenantStore) -> TaskOut:
    return TaskOut.model_validate(await store.tasks.get(task_id))


@router.patch("/{task_id}", response_model=TaskOut)
async def update_task(task_id: uuid.UUID, body: TaskUpdate, store: TenantStore) -> TaskOut:
    """Change the fields sent; fields left out keep their values."""
    task = await store.tasks.update(task_id, **body.model_dump(exclude_unset=True))
    return TaskOut.model_validate(task)


@router.post("/{task_id}/cancel", response_model=TaskOut)
async def cancel_task(
    task_id: uuid.UUID, store: TenantStore, body: CancelIn | None = None
) -> TaskOut:
    """Cancel the task and every run of it still active."""
    options = body.model_dump(exclude_unset=True) if body is not None else {}
    return TaskOut.model_validate(await store.tasks.cancel(task_id, **options))


@router.delete("/{task_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_task(task_id: uuid.UUID, store: TenantStore) -> Response:
    """Delete the task with its subtasks, runs, events, metrics and artifacts."""
    await store.tasks.delete(task_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

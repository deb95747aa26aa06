"""Artifacts: upload a new version as the raw request body, read it back verified."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Header, Path, Query, Request, Response, status

from flightlog.api.auth import TenantStore
from flightlog.api.json_depth import nested_deeper_than
from flightlog.enums import ArtifactType
from flightlog.errors import ValidationError
from flightlog.schemas.artifacts import ArtifactOut

router = APIRouter(tags=["artifacts"])


#: The raw body is the content, whatever its type; ``Content-Type`` is kept with it.
_UPLOAD = {
    "requestBody": {
        "required": False,
        "description": "The content, in any media type (kept as the artifact's content type, "
        "at most 255 characters; default application/octet-stream).",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    },
    # A JSON object in the query (the body is the content): described as such here, since
    # FastAPI would describe the parameter as the plain string it reads.
    "parameters": [
        {
            "name": "metadata",
            "in": "query",
            "required": False,
            "description": "A JSON object kept with the version (at most 8,192 characters).",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    ],
}
#: Uploaders choose the content type, so a read answers whatever it was.
_CONTENT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The content, in the media type it was uploaded with.",
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        "headers": {
            "ETag": {"description": "The content's SHA-256, quoted.", "schema": {"type": "string"}}
        },
    }
}


#: What an artifact name may be (the services refuse the rest): no control characters,
#: and not "." or "..", which a URL path cannot carry (written without lookarounds).
ARTIFACT_NAME = (
    r"^(?:[^\x00-\x1f\x7f.][^\x00-\x1f\x7f]*"
    r"|\.[^\x00-\x1f\x7f.][^\x00-\x1f\x7f]*"
    r"|\.\.[^\x00-\x1f\x7f]+)$"
)

#: The longest ``metadata`` query parameter (JSON text) an upload takes.
MAX_METADATA_CHARS = 8192


def _json_object(text: str | None) -> dict[str, Any] | None:
    """The upload's ``metadata``: the body is the content, so it travels as JSON text."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict) or nested_deeper_than(text.encode()):
        raise ValidationError('metadata must be a JSON object, e.g. metadata={"k": 1}')
    return value


#: The upload route: its body is the content itself, never parsed as JSON.
UPLOAD_PATH = "/tasks/{task_id}/artifacts/{name:path}"
RAW_BODY_ROUTES = (("PUT", UPLOAD_PATH),)


@router.put(
    UPLOAD_PATH,
    status_code=status.HTTP_201_CREATED,
    response_model=ArtifactOut,
    openapi_extra=_UPLOAD,
)
async def put_artifact(
    task_id: uuid.UUID,
    name: Annotated[str, Path(min_length=1, max_length=500, pattern=ARTIFACT_NAME)],
    request: Request,
    store: TenantStore,
    content_type: Annotated[
        str, Header(max_length=255, include_in_schema=False)
    ] = "application/octet-stream",
    artifact_type: ArtifactType = ArtifactType.OTHER,
    run_id: Annotated[uuid.UUID | None, Query(description="A run of this task.")] = None,
    file_path: Annotated[str | None, Query(max_length=1000)] = None,
    metadata: Annotated[
        str | None,
        Query(max_length=MAX_METADATA_CHARS, include_in_schema=False),
    ] = None,
) -> ArtifactOut:
    """The body becomes the next version of ``name``; identical content is stored once."""
    artifact = await store.artifacts.put(
        task_id,
        name,
        await request.body(),
        content_type=content_type,
        artifact_type=artifact_type,
        run_id=run_id,
        file_path=file_path,
        metadata=_json_object(metadata),
    )
    return ArtifactOut.model_validate(artifact)


@router.get("/tasks/{task_id}/artifacts", response_model=list[ArtifactOut])
async def latest_artifacts(task_id: uuid.UUID, store: TenantStore) -> list[ArtifactOut]:
    """The latest version of each of the task's artifacts."""
    return [ArtifactOut.model_validate(a) for a in await store.artifacts.latest(task_id)]


@router.get("/tasks/{task_id}/artifacts/{name:path}/versions", response_model=list[ArtifactOut])
async def versions(task_id: uuid.UUID, name: str, store: TenantStore) -> list[ArtifactOut]:
    return [ArtifactOut.model_validate(a) for a in await store.artifacts.versions(task_id, name)]


@router.get("/artifacts/{artifact_id}", response_model=ArtifactOut)
async def get_artifact(artifact_id: uuid.UUID, store: TenantStore) -> ArtifactOut:
    return ArtifactOut.model_validate(await store.artifacts.get(artifact_id))


@router.get("/artifacts/{artifact_id}/content", response_class=Response, responses=_CONTENT)
async def read_artifact(
    artifact_id: uuid.UUID,
    store: TenantStore,
    download: Annotated[bool, Query(description="Ask browsers to save, not show, it.")] = False,
) -> Response:
    """The content, checked against its SHA-256 before it is sent."""
    artifact = await store.artifacts.get(artifact_id)
    content = await store.artifacts.read(artifact_id)
    # Uploaders choose the content type: browsers must neither sniff another one
    # nor run the content as a page of this origin.
    headers = {
        "ETag": f'"{artifact.sha256}"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
    }
    if download:
        # RFC 5987 encoding: any character of a name is safe in the header.
        filename = quote(artifact.name.rsplit("/", 1)[-1])
        headers["Content-Disposition"] = f"attachment; filename*=utf-8''{filename}"
    return Response(content, media_type=artifact.content_type, headers=headers)

"""Artifacts: a page previewing one (text, JSON pretty-printed, raster images) and its download.

What an artifact holds is whatever an agent stored, so nothing of it may run as a
page of this origin. The download is always an attachment, answered with
``nosniff`` and a sandboxing CSP, and a type a browser would execute (HTML, SVG,
XML, scripts) travels as ``text/plain``. Only raster images are answered inline,
for the preview's ``<img>``. On the preview page content is escaped text (HTML
and SVG show their source), never markup. Previews are bounded: content over
:data:`PREVIEW_MAX_BYTES` is not read for a preview at all, and at most
:data:`PREVIEW_MAX_CHARS` characters of text are shown.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from flightlog.models import Artifact
from flightlog.web.session import DashboardStore, page, render_error

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

#: Content larger than this is not read to preview it (the download still serves it).
PREVIEW_MAX_BYTES = 1024 * 1024
#: Characters of text (or pretty-printed JSON) shown at most.
PREVIEW_MAX_CHARS = 100_000
#: Images larger than this are not shown inline.
IMAGE_MAX_BYTES = 10 * 1024 * 1024
#: Raster images a browser only ever draws: the types served inline. SVG is not one (scripts).
INLINE_IMAGES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif"})
#: Media types a browser would run or render as a document of this origin.
ACTIVE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/xml",
        "application/xml",
        "text/xsl",
        "application/xslt+xml",
        "text/javascript",
        "application/javascript",
        "application/ecmascript",
        "text/ecmascript",
        "application/x-javascript",
        "multipart/x-mixed-replace",
    }
)
#: What the download sends for an active type: the bytes, as text.
AS_TEXT = "text/plain; charset=utf-8"
_CONTENT_TYPE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+(\s*;[ -~]*)?$")


def media_type(artifact: Artifact) -> str:
    """The artifact's media type, lowercased, without parameters ('' when malformed)."""
    value = artifact.content_type or ""
    if not _CONTENT_TYPE.match(value):
        return ""
    return value.split(";", 1)[0].strip().lower()


def is_active(kind: str) -> bool:
    return kind in ACTIVE_TYPES or kind.endswith("+xml") or not kind


def download_type(artifact: Artifact) -> str:
    """The Content-Type of a download: the stored one, unless a browser would run it."""
    kind = media_type(artifact)
    if not kind:
        return "application/octet-stream"
    return AS_TEXT if is_active(kind) else str(artifact.content_type)


def disposition(artifact: Artifact, how: str = "attachment") -> str:
    """``attachment`` (or ``inline``) with the name's last segment, ASCII and RFC 5987 forms."""
    name = artifact.name.rsplit("/", 1)[-1] or "artifact"
    ascii_name = "".join(c if " " <= c <= "~" and c not in '"\\;' else "_" for c in name)
    return f"{how}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def _headers(artifact: Artifact, content_type: str, how: str) -> dict[str, str]:
    return {
        "Content-Type": content_type,
        "Content-Disposition": disposition(artifact, how),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
        "Cache-Control": "private, no-cache",
        "ETag": f'"{artifact.sha256}"',
    }


@dataclass(frozen=True)
class Preview:
    """What the page shows: ``kind`` is image, json, text, too_large or none."""

    kind: str
    text: str = ""
    truncated: bool = False
    note: str = ""


def _text(content: bytes) -> str | None:
    """The content as text, if it is UTF-8 without NUL bytes (else it is binary)."""
    if b"\x00" in content[:8192]:
        return None
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _bounded(kind: str, text: str, note: str = "") -> Preview:
    return Preview(kind, text[:PREVIEW_MAX_CHARS], len(text) > PREVIEW_MAX_CHARS, note)


def is_json(artifact: Artifact, kind: str) -> bool:
    return (
        kind == "application/json"
        or kind.endswith("+json")
        or (
            artifact.name.lower().endswith(".json")
            and kind in ("text/plain", "application/octet-stream")
        )
    )


def preview_of(artifact: Artifact, content: bytes | None) -> Preview:
    """How to show ``content`` (None: it was not read, being over the preview bound)."""
    kind = media_type(artifact)
    if kind in INLINE_IMAGES:
        too_big = artifact.size_bytes > IMAGE_MAX_BYTES
        return Preview("too_large") if too_big else Preview("image")
    if content is None:
        return Preview("too_large")
    text = _text(content)
    if text is None:
        return Preview("none")
    if is_json(artifact, kind):
        try:
            pretty = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except (ValueError, RecursionError):
            return _bounded("text", text, "not valid JSON: shown as stored")
        return _bounded("json", pretty)
    if is_active(kind) and kind:
        return _bounded("text", text, "shown as source: this page never renders it")
    return _bounded("text", text)


@router.get("/artifacts/{artifact_id}")
async def artifact(request: Request, artifact_id: uuid.UUID, store: DashboardStore) -> Response:
    """One artifact version: what it is, its other versions, and a bounded preview."""
    found = await store.artifacts.get(artifact_id)
    readable = found.size_bytes <= PREVIEW_MAX_BYTES and media_type(found) not in INLINE_IMAGES
    content = await store.artifacts.read(artifact_id) if readable else None
    return page(
        request,
        "artifact.html",
        {
            "artifact": found,
            "task": await store.tasks.get(found.task_id),
            "versions": await store.artifacts.versions(found.task_id, found.name),
            "preview": preview_of(found, content),
            "limit_bytes": PREVIEW_MAX_BYTES,
            "limit_chars": PREVIEW_MAX_CHARS,
            "nav": "tasks",
        },
    )


@router.get("/artifacts/{artifact_id}/download")
async def download(artifact_id: uuid.UUID, store: DashboardStore) -> Response:
    """The content, verified, as an attachment; never something a browser runs here."""
    found = await store.artifacts.get(artifact_id)
    content = await store.artifacts.read(artifact_id)
    return Response(content, headers=_headers(found, download_type(found), "attachment"))


@router.get("/artifacts/{artifact_id}/image")
async def image(request: Request, artifact_id: uuid.UUID, store: DashboardStore) -> Response:
    """A raster image inline, for the preview's ``<img>``; any other type is refused."""
    found = await store.artifacts.get(artifact_id)
    if media_type(found) not in INLINE_IMAGES or found.size_bytes > IMAGE_MAX_BYTES:
        return render_error(request, 415, "this artifact is not an image shown inline: download it")
    content = await store.artifacts.read(artifact_id)
    return Response(content, headers=_headers(found, media_type(found), "inline"))

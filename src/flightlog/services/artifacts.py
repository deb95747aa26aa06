"""Artifacts: versioned by name per task, stored once per content hash, verified on read.

:func:`put` and :func:`read` take the blob policy third, after the customer
(the Store passes its own, ``store.blob_policy``): where content goes is the
deployment's choice, not a caller's.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flightlog.enums import ArtifactType
from flightlog.errors import ValidationError
from flightlog.models import Artifact, ArtifactBlob, Task, TaskRun
from flightlog.services import blobs
from flightlog.services._common import get_or_raise, get_owned, member, require
from flightlog.services.runs import lock_task


@dataclass(frozen=True)
class BlobPolicy:
    """Where large content goes and what counts as large."""

    blob_dir: Path
    inline_max_bytes: int


def _store_blob(session: Session, content: bytes, policy: BlobPolicy) -> ArtifactBlob:
    digest = hashlib.sha256(content).hexdigest()
    existing = session.get(ArtifactBlob, digest)
    if existing is not None:
        return existing
    if len(content) <= policy.inline_max_bytes:
        blob = ArtifactBlob(sha256=digest, size_bytes=len(content), content=content)
    else:
        rel = blobs.write_blob(policy.blob_dir, digest, content)
        blob = ArtifactBlob(sha256=digest, size_bytes=len(content), storage_path=rel)
    session.add(blob)
    session.flush()
    return blob


#: The content type of text given as ``str``: it is stored as UTF-8.
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
#: The content type of bytes given without one.
BINARY_CONTENT_TYPE = "application/octet-stream"
_CHARSET = re.compile(r";\s*charset\s*=\s*\"?([^\";\s]+)", re.IGNORECASE)


def artifact_content(
    content: bytes | str, content_type: str | None, *, check_type: bool = True
) -> tuple[bytes, str]:
    """The bytes to store and their content type: text encoded as UTF-8, types defaulted.

    Text stored as UTF-8 cannot be labelled with another charset: a reader
    would decode it wrongly, so such a content type is refused. The HTTP
    client passes ``check_type=False``: a header value HTTP cannot carry is
    refused by its transport, in the terms of a header.
    """
    if content_type is not None and check_type:
        require(isinstance(content_type, str), "content_type must be a string")
        require(
            bool(content_type.strip()) and len(content_type) <= 255,
            "content_type must be 1 to 255 characters",
        )
        require(
            not any(ord(c) < 32 or ord(c) == 127 for c in content_type),
            "content_type cannot hold control characters",
        )
    if isinstance(content, str):
        try:
            encoded = content.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValidationError(
                f"artifact text cannot be stored as UTF-8 (a lone surrogate at {exc.start})"
            ) from None
        if content_type is None:
            return encoded, TEXT_CONTENT_TYPE
        charset = _CHARSET.search(content_type)
        require(
            charset is None or charset.group(1).lower().replace("_", "-") in ("utf-8", "utf8"),
            f"text is stored as UTF-8, so content_type cannot name another charset "
            f"({content_type!r}); give bytes to store another encoding",
        )
        return encoded, content_type
    require(
        isinstance(content, bytes | bytearray | memoryview),
        f"artifact content must be bytes or str, got {type(content).__name__}",
    )
    return bytes(content), content_type or BINARY_CONTENT_TYPE


def put(
    session: Session,
    customer_id: uuid.UUID,
    policy: BlobPolicy,
    /,
    task_id: uuid.UUID,
    name: str,
    content: bytes | str,
    *,
    content_type: str | None = None,
    artifact_type: ArtifactType | str = ArtifactType.OTHER,
    run_id: uuid.UUID | None = None,
    file_path: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> Artifact:
    """Save content as the next version of ``name`` on the task; earlier versions stay.

    Text (a ``str``: a report, a log, a config) is stored as UTF-8, with the
    content type ``text/plain; charset=utf-8`` unless ``content_type`` says
    otherwise; bytes default to ``application/octet-stream``.
    """
    require(0 < len(name) <= 500, "artifact name must be 1 to 500 characters")
    # A name is a path segment in the HTTP API: "." and ".." and control characters
    # cannot travel in a URL, so no face may store what another cannot read back.
    require(name not in (".", ".."), "an artifact cannot be named '.' or '..'")
    require(
        not any(ord(c) < 32 or ord(c) == 127 for c in name),
        "an artifact name cannot hold control characters (newlines, tabs, …)",
    )
    content, content_type = artifact_content(content, content_type)
    artifact_type = member(ArtifactType, artifact_type, "artifact_type")
    # The task lock serialises version numbering for concurrent uploads of one name.
    lock_task(session, task_id, customer_id)
    if run_id is not None:
        run = get_owned(session, TaskRun, run_id, customer_id=customer_id)
        require(run.task_id == task_id, "the run belongs to another task")
    blob = _store_blob(session, content, policy)
    last = session.scalar(
        select(func.coalesce(func.max(Artifact.version), 0)).where(
            Artifact.task_id == task_id, Artifact.name == name
        )
    )
    artifact = Artifact(
        task_id=task_id,
        run_id=run_id,
        name=name,
        version=int(last or 0) + 1,
        artifact_type=artifact_type,
        file_path=file_path,
        content_type=content_type,
        size_bytes=blob.size_bytes,
        sha256=blob.sha256,
        metadata_=metadata or {},
    )
    session.add(artifact)
    session.flush()
    return artifact


def get(session: Session, customer_id: uuid.UUID, /, artifact_id: uuid.UUID) -> Artifact:
    """The artifact's record (not its content); another customer's is NotFound."""
    return get_owned(session, Artifact, artifact_id, customer_id=customer_id)


def read(
    session: Session, customer_id: uuid.UUID, policy: BlobPolicy, /, artifact_id: uuid.UUID
) -> bytes:
    """The artifact's content, verified against its SHA-256."""
    artifact = get(session, customer_id, artifact_id)
    blob = get_or_raise(session, ArtifactBlob, artifact.sha256)
    if blob.content is not None:
        blobs.verify(blob.content, blob.sha256)
        return blob.content
    assert blob.storage_path is not None
    return blobs.read_blob(policy.blob_dir, blob.storage_path, blob.sha256)


def versions(
    session: Session, customer_id: uuid.UUID, /, task_id: uuid.UUID, name: str
) -> list[Artifact]:
    """Every version of a named artifact, oldest first."""
    get_owned(session, Task, task_id, customer_id=customer_id)
    stmt = (
        select(Artifact)
        .where(Artifact.task_id == task_id, Artifact.name == name)
        .order_by(Artifact.version)
    )
    return list((session.scalars(stmt)).all())


def latest(session: Session, customer_id: uuid.UUID, /, task_id: uuid.UUID) -> list[Artifact]:
    """The newest version of each artifact name on a task."""
    get_owned(session, Task, task_id, customer_id=customer_id)
    newest = (
        select(Artifact.name, func.max(Artifact.version).label("version"))
        .where(Artifact.task_id == task_id)
        .group_by(Artifact.name)
        .subquery()
    )
    stmt = (
        select(Artifact)
        .join(
            newest,
            (Artifact.name == newest.c.name) & (Artifact.version == newest.c.version),
        )
        .where(Artifact.task_id == task_id)
        .order_by(Artifact.name)
    )
    return list((session.scalars(stmt)).all())


def orphaned_blobs(session: Session, candidates: set[str]) -> list[ArtifactBlob]:
    """Of the given hashes, the blobs no artifact refers to any more."""
    if not candidates:
        return []
    still_used = set(
        (
            session.scalars(
                select(Artifact.sha256).where(Artifact.sha256.in_(candidates)).distinct()
            )
        ).all()
    )
    unused = candidates - still_used
    if not unused:
        return []
    stmt = select(ArtifactBlob).where(ArtifactBlob.sha256.in_(unused))
    return list((session.scalars(stmt)).all())

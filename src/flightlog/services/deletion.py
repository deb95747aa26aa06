"""Deleting a task and everything only it owns, including blob files nobody else uses."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from flightlog.models import Artifact, ArtifactBlob, Task
from flightlog.services import blobs
from flightlog.services.artifacts import BlobPolicy, orphaned_blobs
from flightlog.services.runs import lock_task


@dataclass
class DeletionResult:
    """What went, and the blob files to remove once the transaction has committed."""

    task_id: uuid.UUID
    blobs_deleted: int = 0
    files_to_remove: list[str] = field(default_factory=list)


def _task_tree(session: Session, task_id: uuid.UUID) -> list[uuid.UUID]:
    """The task and all its subtasks, any depth (they go with it)."""
    tree = select(Task.id.label("id")).where(Task.id == task_id).cte("tree", recursive=True)
    tree = tree.union_all(select(Task.id).where(Task.parent_task_id == tree.c.id))
    return list((session.scalars(select(tree.c.id))).all())


def delete_task(session: Session, customer_id: uuid.UUID, /, task_id: uuid.UUID) -> DeletionResult:
    """Delete the task; the database cascades to runs, agent runs, events, metrics, artifacts.

    Blob rows that no remaining artifact refers to are deleted here; their
    files are returned for removal after commit, never before, so a rollback
    cannot leave a row pointing at a missing file.
    """
    lock_task(session, task_id, customer_id, to_delete=True)
    tree = _task_tree(session, task_id)
    hashes = set(
        (
            session.scalars(select(Artifact.sha256).where(Artifact.task_id.in_(tree)).distinct())
        ).all()
    )
    session.execute(delete(Task).where(Task.id == task_id))
    result = DeletionResult(task_id=task_id)
    for blob in orphaned_blobs(session, hashes):
        if blob.storage_path is not None:
            result.files_to_remove.append(blob.storage_path)
        session.delete(blob)
        result.blobs_deleted += 1
    session.flush()
    # Rows the database cascaded away are still in the identity map; drop them.
    session.expunge_all()
    return result


def referenced_blob_names(session: Session) -> set[str]:
    """Hashes of every stored blob (for the sweep of stray files)."""
    return set((session.scalars(select(ArtifactBlob.sha256))).all())


def sweep_unreferenced_blobs(
    session: Session,
    policy: BlobPolicy,
    /,
    *,
    grace_seconds: float = blobs.SWEEP_GRACE_SECONDS,
) -> int:
    """Remove old blob files no stored blob refers to (left by rolled-back writes).

    Not one tenant's operation: it reads the blob names of every customer,
    then works on files (see :func:`flightlog.services.blobs.sweep` for the grace).
    """
    return blobs.sweep(policy.blob_dir, referenced_blob_names(session), grace_seconds=grace_seconds)

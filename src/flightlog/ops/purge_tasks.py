"""Purge finished tasks with everything they own (seed 004's 90-day clean-up, ``--tasks``).

A task is purged when it is *finished* (a terminal status: ``COMPLETED``,
``FAILED``, ``CANCELLED``, ``TIMEOUT``) and finished before the cutoff
(``completed_at``, or ``updated_at`` for a task that never recorded one).
Tasks go as whole trees: a top-level task is purged together with its
subtasks, and only when every task in the tree is finished before the
cutoff. A finished subtask of a task still open stays: it is part of that
task's record until the task itself goes. Everything a task owns goes with it
through the foreign keys (runs, agent runs, events, metric points, artifacts,
dependencies); pull requests keep existing with ``task_id`` set to NULL.

Each batch is one short transaction over at most ``batch_size`` top-level
tasks, walked in id order with a cursor so a tree kept back is not read
again; blob rows no remaining artifact uses are deleted in the batch, and
their files are removed after its commit, never before.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import ColumnElement, Engine, delete, func, select
from sqlalchemy.orm import Session

from flightlog.db.engine import SQLITE_BEGIN_MODE, sync_session_factory
from flightlog.enums import TaskStatus
from flightlog.models import Artifact, Task
from flightlog.services import blobs
from flightlog.services.artifacts import orphaned_blobs

FINISHED = (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.TIMEOUT)
DEFAULT_TASK_BATCH = 100


@dataclass(frozen=True)
class TaskPurge:
    """Tasks removed (subtasks included), in how many trees, and blob files removed."""

    tasks: int
    trees: int
    blobs: int


def _finished_before(cutoff: datetime) -> ColumnElement[bool]:
    finished_at = func.coalesce(Task.completed_at, Task.updated_at)
    return Task.status.in_(FINISHED) & (finished_at < cutoff)


def _trees(session: Session, roots: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Each root's task ids, itself and every subtask at any depth."""
    tree = (
        select(Task.id.label("root"), Task.id.label("id"))
        .where(Task.id.in_(roots))
        .cte("tree", recursive=True)
    )
    tree = tree.union_all(select(tree.c.root, Task.id).where(Task.parent_task_id == tree.c.id))
    found: dict[uuid.UUID, list[uuid.UUID]] = {root: [] for root in roots}
    for root, task_id in session.execute(select(tree.c.root, tree.c.id)).all():
        found[root].append(task_id)
    return found


def _batch(
    session: Session, cutoff: datetime, after: uuid.UUID | None, batch_size: int
) -> tuple[list[uuid.UUID], dict[uuid.UUID, list[uuid.UUID]]]:
    """The next top-level candidates (for the cursor), and those whose whole tree may go."""
    stmt = select(Task.id).where(Task.parent_task_id.is_(None), _finished_before(cutoff))
    if after is not None:
        stmt = stmt.where(Task.id > after)
    roots = list(session.scalars(stmt.order_by(Task.id).limit(batch_size)).all())
    if not roots:
        return [], {}
    trees = _trees(session, roots)
    every = [task_id for ids in trees.values() for task_id in ids]
    finished = select(Task.id).where(Task.id.in_(every), _finished_before(cutoff))
    purgeable = set(session.scalars(finished).all())
    keep = {root: ids for root, ids in trees.items() if purgeable.issuperset(ids)}
    return roots, keep


def purge_finished_tasks(
    engine: Engine,
    *,
    cutoff: datetime,
    blob_dir: Path | None,
    dry_run: bool = False,
    batch_size: int = DEFAULT_TASK_BATCH,
    progress: Callable[[str, int], None] | None = None,
) -> TaskPurge:
    """Delete (or, in a dry run, count) the finished task trees older than ``cutoff``."""
    sessions = sync_session_factory(engine)
    after: uuid.UUID | None = None
    tasks = trees = removed_blobs = 0
    while True:
        files: list[str] = []
        with sessions() as session, session.begin():
            if dry_run:  # counting takes no write lock on SQLite
                session.connection(execution_options={SQLITE_BEGIN_MODE: "DEFERRED"})
            roots, going = _batch(session, cutoff, after, batch_size)
            if not roots:
                break
            after = roots[-1]
            ids = [task_id for tree in going.values() for task_id in tree]
            if ids and not dry_run:
                hashes = set(
                    session.scalars(
                        select(Artifact.sha256).where(Artifact.task_id.in_(ids)).distinct()
                    ).all()
                )
                session.execute(delete(Task).where(Task.id.in_(list(going))))
                for blob in orphaned_blobs(session, hashes):
                    if blob.storage_path is not None:
                        files.append(blob.storage_path)
                    session.delete(blob)
                    removed_blobs += 1
                session.flush()
        if files and blob_dir is not None:
            blobs.remove_files(blob_dir, files)
        tasks += len(ids)
        trees += len(going)
        if progress is not None and ids:
            progress("tasks", len(ids))
    return TaskPurge(tasks=tasks, trees=trees, blobs=removed_blobs)


__all__ = ["DEFAULT_TASK_BATCH", "FINISHED", "TaskPurge", "purge_finished_tasks"]

"""Projects (seeds 003, 004): the codebases a customer's agents work on.

A project's name is unique within its customer, not globally: seed 004
declared ``name UNIQUE`` for a single-team database, and two tenants must be
free to call their project "web". Deleting a project deletes what only it
owns (contexts, modifications, pull requests, its tasks and their runs) by
``ON DELETE CASCADE``; the blob rows those tasks' artifacts leave unreferenced
are removed here, their files after commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flightlog.models import Artifact, Project, Task
from flightlog.services._common import (
    UNSET,
    Unset,
    get_owned,
    given,
    require,
    translate_integrity_error,
)
from flightlog.services._naming import assert_name_free, get_by_name
from flightlog.services._paging import id_page
from flightlog.services.artifacts import orphaned_blobs

MAX_PAGE_SIZE = 500

_MAX_LENGTHS = {
    "name": 255,
    "repository_url": 500,
    "repository_name": 255,
    "default_branch": 100,
    "owner": 255,
}


@dataclass(frozen=True)
class ProjectPage:
    """A page of projects, newest first, with the cursors to the pages around it and, when
    asked for, ``total`` and ``offset`` (so a page reads "41-60 of 213")."""

    items: list[Project]
    next_cursor: uuid.UUID | None
    previous_cursor: uuid.UUID | None = None
    total: int | None = None
    offset: int | None = None


@dataclass
class ProjectDeletionResult:
    """What went, and the blob files to remove once the transaction has committed."""

    project_id: uuid.UUID
    blobs_deleted: int = 0
    files_to_remove: list[str] = field(default_factory=list)


def _validate_fields(fields: dict[str, Any]) -> None:
    for name in ("name", "default_branch"):
        if name in fields:
            value = fields[name]
            require(
                isinstance(value, str) and bool(value.strip()),
                f"{name} must be a non-empty string",
            )
    for name in ("description", "repository_url", "repository_name", "owner"):
        if name in fields:
            require(
                fields[name] is None or isinstance(fields[name], str),
                f"{name} must be a string or None",
            )
    for name, limit in _MAX_LENGTHS.items():
        value = fields.get(name)
        if isinstance(value, str):
            require(len(value) <= limit, f"{name} must be at most {limit} characters")
    if "settings" in fields:
        require(isinstance(fields["settings"], dict), "settings must be a JSON object")


def _write_in_savepoint(session: Session, write: Callable[[], None], what: str) -> None:
    """Apply ``write`` and flush it in a savepoint.

    The name check above answers the common case; a concurrent writer can
    still take the name in between, and the savepoint turns the unique
    violation into a clean :class:`Conflict` without aborting the caller's
    transaction.
    """
    try:
        with session.begin_nested():
            write()
    except IntegrityError as exc:
        raise translate_integrity_error(exc, what=what) from None


def create_project(
    session: Session,
    customer_id: uuid.UUID,
    /,
    *,
    name: str,
    description: str | None = None,
    repository_url: str | None = None,
    repository_name: str | None = None,
    default_branch: str = "main",
    settings: dict[str, Any] | None = None,
    owner: str | None = None,
) -> Project:
    """Create a project; :class:`Conflict` when the customer already has one of that name."""
    fields: dict[str, Any] = {
        "name": name,
        "description": description,
        "repository_url": repository_url,
        "repository_name": repository_name,
        "default_branch": default_branch,
        "settings": {} if settings is None else settings,
        "owner": owner,
    }
    _validate_fields(fields)
    assert_name_free(session, Project, customer_id, name)
    project = Project(customer_id=customer_id, **fields)
    _write_in_savepoint(session, lambda: session.add(project), f"project {name!r}")
    return project


def get_project(session: Session, customer_id: uuid.UUID, /, project_id: uuid.UUID) -> Project:
    """The project, or :class:`NotFound` (also for another customer's project)."""
    return get_owned(session, Project, project_id, customer_id=customer_id)


def get_project_by_name(session: Session, customer_id: uuid.UUID, /, name: str) -> Project:
    """Look a project up by the name people use for it."""
    return get_by_name(session, Project, name, customer_id=customer_id)


def lock_project(session: Session, customer_id: uuid.UUID, /, project_id: uuid.UUID) -> Project:
    """Lock the project row (PostgreSQL ``FOR UPDATE``) and return it freshly read.

    Writers that allocate per-project numbers take this lock first; on SQLite
    ``BEGIN IMMEDIATE`` already serialises them.
    """
    return get_owned(session, Project, project_id, customer_id=customer_id, for_update=True)


def update_project(
    session: Session,
    customer_id: uuid.UUID,
    /,
    project_id: uuid.UUID,
    *,
    name: str | Unset = UNSET,
    description: str | Unset | None = UNSET,
    repository_url: str | Unset | None = UNSET,
    repository_name: str | Unset | None = UNSET,
    default_branch: str | Unset = UNSET,
    settings: dict[str, Any] | Unset = UNSET,
    owner: str | Unset | None = UNSET,
) -> Project:
    """Change the fields given; the others keep their values (``None`` clears a nullable one).

    A rename to a name the customer already uses is a :class:`Conflict`.
    """
    changes = given(
        name=name,
        description=description,
        repository_url=repository_url,
        repository_name=repository_name,
        default_branch=default_branch,
        settings=settings,
        owner=owner,
    )
    _validate_fields(changes)
    project = get_project(session, customer_id, project_id)
    if "name" in changes and changes["name"] != project.name:
        assert_name_free(session, Project, customer_id, changes["name"], except_id=project_id)

    def write() -> None:
        for name, value in changes.items():
            setattr(project, name, value)

    _write_in_savepoint(session, write, f"project {changes.get('name', project.name)!r}")
    return project


def list_projects(
    session: Session,
    customer_id: uuid.UUID,
    /,
    *,
    owner: str | None = None,
    cursor: uuid.UUID | None = None,
    before: uuid.UUID | None = None,
    total: bool = False,
    limit: int = 50,
) -> ProjectPage:
    """Projects newest first, a page at a time both ways. Ids are UUIDv7, so ordering by id
    is ordering by creation.

    Pass ``next_cursor`` as ``cursor`` for the page after, ``previous_cursor`` as
    ``before`` for the page before; ``total=True`` also counts the projects and the
    page's offset. A cursor is a position only: any id pages through the caller's own.
    ``owner``: only the projects of that owner (exactly, case and all).
    """
    require(1 <= limit <= MAX_PAGE_SIZE, f"limit must be between 1 and {MAX_PAGE_SIZE}")
    stmt = select(Project).where(Project.customer_id == customer_id)
    if owner is not None:
        require(isinstance(owner, str), "owner must be a string")
        stmt = stmt.where(Project.owner == owner)
    fields = id_page(
        session, stmt, Project.id, cursor=cursor, before=before, limit=limit, total=total
    )
    return ProjectPage(**fields)


def _project_task_tree(session: Session, project_id: uuid.UUID) -> list[uuid.UUID]:
    """The project's tasks and all their subtasks, any depth (the cascade takes them all)."""
    tree = (
        select(Task.id.label("id"))
        .where(Task.project_id == project_id)
        .cte("project_tree", recursive=True)
    )
    tree = tree.union(select(Task.id).where(Task.parent_task_id == tree.c.id))
    return list((session.scalars(select(tree.c.id))).all())


def delete_project(
    session: Session, customer_id: uuid.UUID, /, project_id: uuid.UUID
) -> ProjectDeletionResult:
    """Delete the project; the database cascades to everything it owns.

    Blob rows no remaining artifact refers to are deleted in the same
    transaction; their files are returned for removal after commit, never
    before, so a rollback cannot leave a row pointing at a missing file.
    """
    lock_project(session, customer_id, project_id)
    tree = _project_task_tree(session, project_id)
    hashes: set[str] = set()
    if tree:
        stmt = select(Artifact.sha256).where(Artifact.task_id.in_(tree)).distinct()
        hashes = set((session.scalars(stmt)).all())
    session.execute(delete(Project).where(Project.id == project_id))
    result = ProjectDeletionResult(project_id=project_id)
    for blob in orphaned_blobs(session, hashes):
        if blob.storage_path is not None:
            result.files_to_remove.append(blob.storage_path)
        session.delete(blob)
        result.blobs_deleted += 1
    session.flush()
    # Rows the database cascaded away are still in the identity map; drop them.
    session.expunge_all()
    return result


__all__ = [
    "ProjectDeletionResult",
    "ProjectPage",
    "create_project",
    "delete_project",
    "get_project",
    "get_project_by_name",
    "list_projects",
    "lock_project",
    "update_project",
]

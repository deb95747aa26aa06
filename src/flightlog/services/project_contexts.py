"""Project contexts (seed 003): the state of a project at each iteration.

Iteration numbers count 1, 2, 3... per project with no gaps, however many
writers add iterations at once: each writer locks the project row first
(``FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite) and only then
reads the current maximum.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flightlog.errors import NotFound, ValidationError
from flightlog.models import Project, ProjectContext
from flightlog.services._common import get_owned, require
from flightlog.services._paging import id_page
from flightlog.services.json_match import check_text
from flightlog.services.projects import MAX_PAGE_SIZE, get_project, lock_project

#: The quality scores a context carries, each a percentage in 0..100 or None.
SCORE_FIELDS = ("test_coverage", "security_score", "performance_score")


@dataclass(frozen=True)
class KeyDiff:
    """How the top-level keys of a JSON object changed between two iterations."""

    added: list[str]
    removed: list[str]
    changed: list[str]

    @property
    def unchanged(self) -> bool:
        return not (self.added or self.removed or self.changed)


@dataclass(frozen=True)
class ContextPage:
    """A page of contexts across projects, newest first, with the cursors around it and,
    when asked for, ``total`` and ``offset``."""

    items: list[ProjectContext]
    next_cursor: uuid.UUID | None
    previous_cursor: uuid.UUID | None = None
    total: int | None = None
    offset: int | None = None


@dataclass(frozen=True)
class ContextComparison:
    """Iteration ``to_iteration`` measured against ``from_iteration``.

    ``score_deltas`` maps each score to ``to - from``, or None when either
    iteration has no value for it (a missing measurement is not a zero).
    """

    project_id: uuid.UUID
    from_iteration: int
    to_iteration: int
    score_deltas: dict[str, float | None]
    codebase: KeyDiff
    configuration: KeyDiff


def _validate_score(name: str, value: Any) -> float | None:
    """Refuse a bad score with a message naming it, before the database CHECK would."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(f"{name} must be a number between 0 and 100, got {value!r}")
    if not 0 <= value <= 100:
        raise ValidationError(
            f"{name} must be between 0 and 100, got {value}", field=name, value=value
        )
    return float(value)


def add_iteration(
    session: Session,
    customer_id: uuid.UUID,
    /,
    project_id: uuid.UUID,
    *,
    codebase: dict[str, Any] | None = None,
    configuration: dict[str, Any] | None = None,
    test_coverage: float | None = None,
    security_score: float | None = None,
    performance_score: float | None = None,
    owner_id: str | None = None,
    notes: str | None = None,
) -> ProjectContext:
    """Record the project's next iteration (1 for the first)."""
    scores = {
        "test_coverage": _validate_score("test_coverage", test_coverage),
        "security_score": _validate_score("security_score", security_score),
        "performance_score": _validate_score("performance_score", performance_score),
    }
    require(codebase is None or isinstance(codebase, dict), "codebase must be a JSON object")
    require(
        configuration is None or isinstance(configuration, dict),
        "configuration must be a JSON object",
    )
    require(
        owner_id is None or (isinstance(owner_id, str) and len(owner_id) <= 255),
        "owner_id must be a string of at most 255 characters",
    )
    require(notes is None or isinstance(notes, str), "notes must be a string")
    lock_project(session, customer_id, project_id)
    last = session.scalar(
        select(func.coalesce(func.max(ProjectContext.iteration), 0)).where(
            ProjectContext.project_id == project_id
        )
    )
    context = ProjectContext(
        project_id=project_id,
        iteration=int(last or 0) + 1,
        codebase=codebase or {},
        configuration=configuration or {},
        owner_id=owner_id,
        notes=notes,
        **scores,
    )
    session.add(context)
    session.flush()
    return context


def latest(
    session: Session, customer_id: uuid.UUID, /, project_id: uuid.UUID
) -> ProjectContext | None:
    """The newest iteration, or None while the project has none yet."""
    get_project(session, customer_id, project_id)
    stmt = (
        select(ProjectContext)
        .where(ProjectContext.project_id == project_id)
        .order_by(ProjectContext.iteration.desc())
        .limit(1)
    )
    newest: ProjectContext | None = session.scalar(stmt)
    return newest


def get_iteration(
    session: Session, customer_id: uuid.UUID, /, project_id: uuid.UUID, iteration: int
) -> ProjectContext:
    """One iteration, or :class:`NotFound` when the project never reached it."""
    get_project(session, customer_id, project_id)
    stmt = select(ProjectContext).where(
        ProjectContext.project_id == project_id, ProjectContext.iteration == iteration
    )
    context = session.scalar(stmt)
    if context is None:
        raise NotFound(
            f"Project {project_id} has no iteration {iteration}",
            entity="ProjectContext",
            project_id=str(project_id),
            iteration=iteration,
        )
    return context


def get_context(
    session: Session, customer_id: uuid.UUID, /, context_id: uuid.UUID
) -> ProjectContext:
    """A context by its id, checked to belong to one of the customer's projects."""
    return get_owned(session, ProjectContext, context_id, customer_id=customer_id)


def _owner(owner_id: str | None) -> str | None:
    if owner_id is not None:
        check_text(owner_id, "owner_id")
    return owner_id


def list_iterations(
    session: Session,
    customer_id: uuid.UUID,
    /,
    project_id: uuid.UUID,
    *,
    owner_id: str | None = None,
) -> list[ProjectContext]:
    """Every iteration of the project, oldest first; only ``owner_id``'s when given."""
    get_project(session, customer_id, project_id)
    stmt = select(ProjectContext).where(ProjectContext.project_id == project_id)
    if _owner(owner_id) is not None:
        stmt = stmt.where(ProjectContext.owner_id == owner_id)
    return list((session.scalars(stmt.order_by(ProjectContext.iteration))).all())


def list_contexts(
    session: Session,
    customer_id: uuid.UUID,
    /,
    *,
    owner_id: str | None = None,
    project_id: uuid.UUID | None = None,
    cursor: uuid.UUID | None = None,
    before: uuid.UUID | None = None,
    total: bool = False,
    limit: int = 50,
) -> ContextPage:
    """The contexts of all the customer's projects, newest first, a page at a time both ways.

    Seed 003 asks ``SELECT * FROM project_contexts WHERE owner_id = $1`` across
    projects: ``owner_id`` is that (served by ``ix_project_contexts_owner_id``),
    ``project_id`` narrows it to one project (another customer's is :class:`NotFound`).
    Pass ``next_cursor`` as ``cursor`` for the page after, ``previous_cursor`` as
    ``before`` for the page before; ``total=True`` also counts the matches.
    """
    require(1 <= limit <= MAX_PAGE_SIZE, f"limit must be between 1 and {MAX_PAGE_SIZE}")
    stmt = select(ProjectContext).join(Project).where(Project.customer_id == customer_id)
    if _owner(owner_id) is not None:
        stmt = stmt.where(ProjectContext.owner_id == owner_id)
    if project_id is not None:
        get_project(session, customer_id, project_id)
        stmt = stmt.where(ProjectContext.project_id == project_id)
    fields = id_page(
        session, stmt, ProjectContext.id, cursor=cursor, before=before, limit=limit, total=total
    )
    return ContextPage(**fields)


def diff_keys(before: dict[str, Any], after: dict[str, Any]) -> KeyDiff:
    """Top-level keys added, removed and changed (by value), each sorted."""
    return KeyDiff(
        added=sorted(set(after) - set(before)),
        removed=sorted(set(before) - set(after)),
        changed=sorted(k for k in set(before) & set(after) if before[k] != after[k]),
    )


def compare(
    session: Session,
    customer_id: uuid.UUID,
    /,
    project_id: uuid.UUID,
    from_iteration: int,
    to_iteration: int,
) -> ContextComparison:
    """What changed from one iteration to another: score deltas and JSON key changes."""
    before = get_iteration(session, customer_id, project_id, from_iteration)
    after = get_iteration(session, customer_id, project_id, to_iteration)
    deltas: dict[str, float | None] = {}
    for name in SCORE_FIELDS:
        a, b = getattr(before, name), getattr(after, name)
        deltas[name] = None if a is None or b is None else b - a
    return ContextComparison(
        project_id=project_id,
        from_iteration=from_iteration,
        to_iteration=to_iteration,
        score_deltas=deltas,
        codebase=diff_keys(before.codebase or {}, after.codebase or {}),
        configuration=diff_keys(before.configuration or {}, after.configuration or {}),
    )


__all__ = [
    "SCORE_FIELDS",
    "ContextComparison",
    "ContextPage",
    "KeyDiff",
    "add_iteration",
    "compare",
    "diff_keys",
    "get_context",
    "get_iteration",
    "latest",
    "list_contexts",
    "list_iterations",
]

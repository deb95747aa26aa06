"""Modifications (seed 003): change requests on a project, decided by a person, then applied.

Seed 003 kept the status as a free string; here it moves only along
:data:`~flightlog.services.lifecycle.MODIFICATION_LIFECYCLE`, and every step
(the request included) leaves an audit event saying who did it, in the same
transaction as the change.
Each change locks the modification row and re-reads it, so two people
deciding at once cannot both succeed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from flightlog.enums import ModificationStatus
from flightlog.errors import ValidationError
from flightlog.models import Modification, ProjectContext
from flightlog.services import events
from flightlog.services._common import get_owned, require, utc_now
from flightlog.services.json_match import json_array_has
from flightlog.services.lifecycle import MODIFICATION_LIFECYCLE, move
from flightlog.services.projects import get_project

MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class ModificationPage:
    """A page of modifications, newest first, with the cursor for the next page."""

    items: list[Modification]
    next_cursor: uuid.UUID | None


def _who(value: str | None, name: str) -> str:
    require(
        isinstance(value, str) and bool(value.strip()) and len(value) <= 255,
        f"{name} must name who acted (1 to 255 characters)",
    )
    assert value is not None
    return value


def _check_context(
    session: Session, project_id: uuid.UUID, context_id: uuid.UUID, customer_id: uuid.UUID
) -> None:
    # Another tenant's context is NotFound, like a missing one; only one of the
    # caller's own can belong to "another project".
    context = get_owned(session, ProjectContext, context_id, customer_id=customer_id)
    if context.project_id != project_id:
        raise ValidationError(
            f"project context {context_id} belongs to another project",
            project_context_id=str(context_id),
        )


def request_modification(
    session: Session,
    customer_id: uuid.UUID,
    /,
    project_id: uuid.UUID,
    *,
    request: str,
    title: str | None = None,
    impact_analysis: dict[str, Any] | None = None,
    affected_files: Sequence[str] = (),
    project_context_id: uuid.UUID | None = None,
    requested_by: str | None = None,
) -> Modification:
    """Record a PENDING change request against the project (and optionally one iteration)."""
    require(isinstance(request, str) and bool(request.strip()), "request must describe the change")
    require(
        title is None or (isinstance(title, str) and len(title) <= 500),
        "title must be a string of at most 500 characters",
    )
    require(
        impact_analysis is None or isinstance(impact_analysis, dict),
        "impact_analysis must be a JSON object",
    )
    require(
        isinstance(affected_files, list | tuple)
        and all(isinstance(f, str) and f.strip() for f in affected_files),
        "affected_files must be a list of non-empty file paths",
    )
    require(
        requested_by is None or (isinstance(requested_by, str) and len(requested_by) <= 255),
        "requested_by must be a string of at most 255 characters",
    )
    get_project(session, customer_id, project_id)
    if project_context_id is not None:
        _check_context(session, project_id, project_context_id, customer_id)
    modification = Modification(
        project_id=project_id,
        project_context_id=project_context_id,
        title=title,
        request=request,
        impact_analysis=impact_analysis or {},
        affected_files=list(affected_files),
        status=ModificationStatus.PENDING,
        requested_by=requested_by,
    )
    session.add(modification)
    session.flush()
    events.record_transition(
        session,
        entity=MODIFICATION_LIFECYCLE.entity,
        entity_id=modification.id,
        from_status=None,
        to_status=ModificationStatus.PENDING,
        customer_id=customer_id,
        actor=requested_by,
        data={"project_id": str(project_id)},
    )
    session.flush()
    return modification


def get_modification(
    session: Session, customer_id: uuid.UUID, /, modification_id: uuid.UUID
) -> Modification:
    """The modification, or :class:`NotFound` (also when its project is another customer's)."""
    return get_owned(session, Modification, modification_id, customer_id=customer_id)


def list_modifications(
    session: Session,
    customer_id: uuid.UUID,
    /,
    project_id: uuid.UUID,
    *,
    status: ModificationStatus | str | Sequence[ModificationStatus | str] | None = None,
    affected_file: str | None = None,
    cursor: uuid.UUID | None = None,
    limit: int = 50,
) -> ModificationPage:
    """A project's modifications newest first, optionally only those in the given statuses.

    ``affected_file``: only those whose ``affected_files`` list holds this path, exactly
    (seed 003's ``affected_files`` array; PostgreSQL's ``?`` on the JSON array).
    """
    require(1 <= limit <= MAX_PAGE_SIZE, f"limit must be between 1 and {MAX_PAGE_SIZE}")
    get_project(session, customer_id, project_id)
    stmt = select(Modification).where(Modification.project_id == project_id)
    if affected_file is not None:
        require(isinstance(affected_file, str), "affected_file: must be a string (one path)")
        stmt = stmt.where(
            json_array_has(session, Modification.affected_files, affected_file, "affected_file")
        )
    if status is not None:
        wanted = [status] if isinstance(status, str) else list(status)
        try:
            statuses = [ModificationStatus(s) for s in wanted]
        except ValueError:
            raise ValidationError(
                f"unknown modification status in {wanted!r}; "
                f"expected some of {', '.join(ModificationStatus)}"
            ) from None
        stmt = stmt.where(Modification.status.in_(statuses))
    if cursor is not None:
        stmt = stmt.where(Modification.id < cursor)
    stmt = stmt.order_by(Modification.id.desc()).limit(limit + 1)
    rows = list((session.scalars(stmt)).all())
    items = rows[:limit]
    return ModificationPage(items=items, next_cursor=items[-1].id if len(rows) > limit else None)


def _lock(session: Session, modification_id: uuid.UUID, customer_id: uuid.UUID) -> Modification:
    """Lock the customer's row and re-read it so its status is current."""
    return get_owned(
        session, Modification, modification_id, customer_id=customer_id, for_update=True
    )


def _transition(
    session: Session,
    modification: Modification,
    target: ModificationStatus,
    *,
    customer_id: uuid.UUID,
    actor: str | None,
    data: dict[str, Any] | None = None,
) -> None:
    move(
        session,
        MODIFICATION_LIFECYCLE,
        modification,
        target,
        customer_id=customer_id,
        actor=actor,
        data={"project_id": str(modification.project_id), **(data or {})},
    )


def decide(
    session: Session,
    customer_id: uuid.UUID,
    /,
    modification_id: uuid.UUID,
    *,
    approve: bool,
    decided_by: str,
    comment: str | None = None,
) -> Modification:
    """A person approves or rejects a PENDING request; who, when and why are kept."""
    decided_by = _who(decided_by, "decided_by")
    require(comment is None or isinstance(comment, str), "comment must be a string")
    target = ModificationStatus.APPROVED if approve else ModificationStatus.REJECTED
    modification = _lock(session, modification_id, customer_id)
    _transition(
        session,
        modification,
        target,
        customer_id=customer_id,
        actor=decided_by,
        data={"comment": comment} if comment is not None else None,
    )
    modification.decided_by = decided_by
    modification.decided_at = utc_now()
    modification.decision_comment = comment
    session.flush()
    return modification


def approve(
    session: Session,
    customer_id: uuid.UUID,
    /,
    modification_id: uuid.UUID,
    *,
    decided_by: str,
    comment: str | None = None,
) -> Modification:
    """:func:`decide` with ``approve=True``: PENDING -> APPROVED."""
    return decide(
        session, customer_id, modification_id, approve=True, decided_by=decided_by, comment=comment
    )


def reject(
    session: Session,
    customer_id: uuid.UUID,
    /,
    modification_id: uuid.UUID,
    *,
    decided_by: str,
    comment: str | None = None,
) -> Modification:
    """:func:`decide` with ``approve=False``: PENDING -> REJECTED."""
    return decide(
        session, customer_id, modification_id, approve=False, decided_by=decided_by, comment=comment
    )


def apply(
    session: Session,
    customer_id: uuid.UUID,
    /,
    modification_id: uuid.UUID,
    *,
    result: dict[str, Any] | None = None,
    actor: str | None = None,
) -> Modification:
    """APPROVED -> APPLIED: the change is in the codebase; ``result`` says what it did."""
    require(result is None or isinstance(result, dict), "result must be a JSON object")
    require(actor is None or isinstance(actor, str), "actor must be a string")
    modification = _lock(session, modification_id, customer_id)
    _transition(
        session, modification, ModificationStatus.APPLIED, customer_id=customer_id, actor=actor
    )
    modification.result = result
    session.flush()
    return modification


def fail(
    session: Session,
    customer_id: uuid.UUID,
    /,
    modification_id: uuid.UUID,
    *,
    error_message: str,
    result: dict[str, Any] | None = None,
    actor: str | None = None,
) -> Modification:
    """APPROVED -> FAILED: applying the change did not work; the error says why."""
    require(
        isinstance(error_message, str) and bool(error_message.strip()),
        "error_message must say why applying the modification failed",
    )
    require(result is None or isinstance(result, dict), "result must be a JSON object")
    require(actor is None or isinstance(actor, str), "actor must be a string")
    modification = _lock(session, modification_id, customer_id)
    _transition(
        session,
        modification,
        ModificationStatus.FAILED,
        customer_id=customer_id,
        actor=actor,
        data={"error_message": error_message},
    )
    modification.error_message = error_message
    if result is not None:
        modification.result = result
    session.flush()
    return modification


__all__ = [
    "ModificationPage",
    "apply",
    "approve",
    "decide",
    "fail",
    "get_modification",
    "list_modifications",
    "reject",
    "request_modification",
]

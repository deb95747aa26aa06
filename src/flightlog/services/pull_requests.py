"""Pull requests and their validation checks (seed 004).

A pull request belongs to a customer through its project. It starts as a
DRAFT and moves through review; it may be merged only when its latest
validation is green (at least one check, none failed or still running).
Checks are upserted by name, one row each, and mirrored into the pull
request's ``validation_results`` JSON, the shape seed 004 stored.

Check outcomes are observations, not a workflow: CI may re-run a check or
report it straight as PASSED, so a check's status may change to any other
and no transition table applies; each change is still an audit event. A
merged or closed pull request's checks are frozen, as the record of what
was validated.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flightlog.enums import PullRequestStatus, ValidationStatus
from flightlog.errors import Conflict, ValidationError
from flightlog.models import Project, PullRequest, PullRequestCheck, Task, TaskRun
from flightlog.services import events
from flightlog.services._common import get_owned, require, translate_integrity_error, utc_now
from flightlog.services.lifecycle import PULL_REQUEST_LIFECYCLE, move
from flightlog.services.pull_request_list import (
    PullRequestPage,
    list_pull_requests,
    pull_request_page,
)

#: Outcomes that block a merge: failed, or not finished yet.
BLOCKING_CHECKS = frozenset(
    {ValidationStatus.FAILED, ValidationStatus.PENDING, ValidationStatus.RUNNING}
)

_P = PullRequestStatus

_LIMITS = {"repository_url": 500, "branch_name": 255, "base_branch": 255, "title": 500}


def _required_text(value: Any, name: str) -> str:
    limit = _LIMITS[name]
    require(
        isinstance(value, str) and bool(value.strip()) and len(value) <= limit,
        f"{name} must be 1 to {limit} characters",
    )
    return str(value)


def create_pull_request(
    session: Session,
    customer_id: uuid.UUID,
    /,
    *,
    project_id: uuid.UUID,
    branch_name: str,
    title: str,
    repository_url: str | None = None,
    base_branch: str | None = None,
    description: str | None = None,
    pr_number: int | None = None,
    task_id: uuid.UUID | None = None,
    run_id: uuid.UUID | None = None,
    author: str | None = None,
    actor: str | None = None,
) -> PullRequest:
    """A DRAFT pull request on one of the customer's projects.

    The repository and base branch default to the project's; the task and
    run, when given, must be the customer's too (and the run of that task).
    """
    project = get_owned(session, Project, project_id, customer_id=customer_id)
    repository = _required_text(repository_url or project.repository_url, "repository_url")
    branch = _required_text(branch_name, "branch_name")
    base = _required_text(base_branch or project.default_branch, "base_branch")
    title = _required_text(title, "title")
    require(description is None or isinstance(description, str), "description must be text")
    require(author is None or (isinstance(author, str) and len(author) <= 255), "author too long")
    require(
        pr_number is None
        or (isinstance(pr_number, int) and not isinstance(pr_number, bool) and pr_number >= 1),
        f"pr_number must be a positive whole number, got {pr_number!r}",
    )
    if task_id is not None:
        get_owned(session, Task, task_id, customer_id=customer_id)
    if run_id is not None:
        run = get_owned(session, TaskRun, run_id, customer_id=customer_id)
        if task_id is not None and run.task_id != task_id:
            raise ValidationError(f"run {run_id} is not a run of task {task_id}")
    if pr_number is not None:
        taken = select(PullRequest.id).where(
            PullRequest.project_id == project_id,
            PullRequest.repository_url == repository,
            PullRequest.pr_number == pr_number,
        )
        if session.scalar(taken) is not None:
            raise Conflict(f"pull request #{pr_number} of {repository} already exists")
    pr = PullRequest(
        project_id=project.id,
        task_id=task_id,
        run_id=run_id,
        pr_number=pr_number,
        repository_url=repository,
        branch_name=branch,
        base_branch=base,
        title=title,
        description=description,
        status=PullRequestStatus.DRAFT,
        validation_results={},
        author=author,
    )
    try:
        # A concurrent writer may take the number after the check above; the
        # savepoint turns its unique violation into a Conflict.
        with session.begin_nested():
            session.add(pr)
    except IntegrityError as exc:
        raise translate_integrity_error(
            exc, what=f"pull request #{pr_number} of {repository}"
        ) from None
    events.record_transition(
        session,
        entity=PULL_REQUEST_LIFECYCLE.entity,
        entity_id=pr.id,
        from_status=None,
        to_status=PullRequestStatus.DRAFT,
        customer_id=customer_id,
        actor=actor or author,
        data={"project_id": str(project.id), "pr_number": pr_number},
    )
    session.flush()
    return pr


def get_pull_request(
    session: Session, customer_id: uuid.UUID, /, pull_request_id: uuid.UUID
) -> PullRequest:
    """The pull request, or :class:`NotFound` (also when its project is another customer's)."""
    return get_owned(session, PullRequest, pull_request_id, customer_id=customer_id)


def _lock(session: Session, customer_id: uuid.UUID, pull_request_id: uuid.UUID) -> PullRequest:
    """The customer's pull request, read fresh under ``FOR UPDATE``."""
    return get_owned(
        session, PullRequest, pull_request_id, customer_id=customer_id, for_update=True
    )


def list_checks(
    session: Session, customer_id: uuid.UUID, /, pull_request_id: uuid.UUID
) -> list[PullRequestCheck]:
    """The latest outcome of each named check, by name."""
    get_pull_request(session, customer_id, pull_request_id)
    return _checks(session, pull_request_id)


def _checks(session: Session, pull_request_id: uuid.UUID) -> list[PullRequestCheck]:
    stmt = (
        select(PullRequestCheck)
        .where(PullRequestCheck.pull_request_id == pull_request_id)
        .order_by(PullRequestCheck.name)
    )
    return list((session.scalars(stmt)).all())


def merge_blockers(checks: Sequence[PullRequestCheck]) -> list[str]:
    """Why these checks do not allow a merge, one phrase per reason (empty: they do)."""
    if not checks:
        return ["no validation checks have been recorded"]
    return [f"{c.name} is {c.status.value}" for c in checks if c.status in BLOCKING_CHECKS]


def transition_pull_request(
    session: Session,
    customer_id: uuid.UUID,
    /,
    pull_request_id: uuid.UUID,
    status: PullRequestStatus | str,
    *,
    actor: str | None = None,
    comment: str | None = None,
) -> PullRequest:
    """Move a pull request through review; merging also needs green validation.

    The row is locked first, so a check recorded concurrently cannot slip in
    between the validation test and the merge.
    """
    try:
        target = PullRequestStatus(status)
    except ValueError:
        raise ValidationError(
            f"unknown pull request status {status!r}; expected one of {', '.join(_P)}"
        ) from None
    require(comment is None or isinstance(comment, str), "comment must be text")
    pr = _lock(session, customer_id, pull_request_id)
    # The table first: a refused move is InvalidTransition, whatever the checks say.
    PULL_REQUEST_LIFECYCLE.check(pr.status, target)
    if target is PullRequestStatus.MERGED:
        blockers = merge_blockers(_checks(session, pr.id))
        if blockers:
            raise Conflict(
                f"PullRequest {pr.id} cannot be merged: {'; '.join(blockers)}",
                blockers=blockers,
            )
    move(
        session,
        PULL_REQUEST_LIFECYCLE,
        pr,
        target,
        customer_id=customer_id,
        actor=actor,
        data={"comment": comment} if comment else None,
    )
    session.flush()
    return pr


def open_pull_request(
    session: Session,
    customer_id: uuid.UUID,
    /,
    pull_request_id: uuid.UUID,
    *,
    actor: str | None = None,
    comment: str | None = None,
) -> PullRequest:
    """Ready for review: from DRAFT, or back after changes were requested."""
    return transition_pull_request(
        session, customer_id, pull_request_id, _P.OPEN, actor=actor, comment=comment
    )


def request_changes(
    session: Session,
    customer_id: uuid.UUID,
    /,
    pull_request_id: uuid.UUID,
    *,
    actor: str | None = None,
    comment: str | None = None,
) -> PullRequest:
    """A reviewer asks for changes (from OPEN or APPROVED)."""
    return transition_pull_request(
        session, customer_id, pull_request_id, _P.CHANGES_REQUESTED, actor=actor, comment=comment
    )


def approve_pull_request(
    session: Session,
    customer_id: uuid.UUID,
    /,
    pull_request_id: uuid.UUID,
    *,
    actor: str | None = None,
    comment: str | None = None,
) -> PullRequest:
    """A reviewer approves (from OPEN or CHANGES_REQUESTED)."""
    return transition_pull_request(
        session, customer_id, pull_request_id, _P.APPROVED, actor=actor, comment=comment
    )


def merge_pull_request(
    session: Session,
    customer_id: uuid.UUID,
    /,
    pull_request_id: uuid.UUID,
    *,
    actor: str | None = None,
    comment: str | None = None,
) -> PullRequest:
    """Merge an APPROVED pull request; :class:`Conflict` unless its validation is green."""
    return transition_pull_request(
        session, customer_id, pull_request_id, _P.MERGED, actor=actor, comment=comment
    )


def close_pull_request(
    session: Session,
    customer_id: uuid.UUID,
    /,
    pull_request_id: uuid.UUID,
    *,
    actor: str | None = None,
    comment: str | None = None,
) -> PullRequest:
    """Close without merging (from any status but MERGED and CLOSED)."""
    return transition_pull_request(
        session, customer_id, pull_request_id, _P.CLOSED, actor=actor, comment=comment
    )


def _mirror(existing: dict[str, Any], checks: Sequence[PullRequestCheck]) -> dict[str, Any]:
    """``validation_results`` as seed 004 shaped it; unrelated keys are kept."""
    return {
        **existing,
        "checks": {c.name: {"status": c.status.value, "details": c.details} for c in checks},
        "updated_at": utc_now().isoformat(),
    }


def record_check(
    session: Session,
    customer_id: uuid.UUID,
    /,
    pull_request_id: uuid.UUID,
    *,
    name: str,
    status: ValidationStatus | str,
    details: dict[str, Any] | None = None,
    actor: str | None = None,
) -> PullRequestCheck:
    """Insert or update the named check and refresh the pull request's JSON mirror."""
    require(
        isinstance(name, str) and bool(name.strip()) and len(name) <= 255,
        "check name must be 1 to 255 characters",
    )
    try:
        outcome = ValidationStatus(status)
    except ValueError:
        raise ValidationError(
            f"unknown check status {status!r}; expected one of {', '.join(ValidationStatus)}"
        ) from None
    require(details is None or isinstance(details, dict), "details must be a JSON object")
    pr = _lock(session, customer_id, pull_request_id)
    if PULL_REQUEST_LIFECYCLE.terminal(pr.status):
        raise Conflict(
            f"PullRequest {pr.id} is {pr.status.value}; its checks can no longer change",
            status=pr.status.value,
        )
    check = session.scalar(
        select(PullRequestCheck).where(
            PullRequestCheck.pull_request_id == pr.id, PullRequestCheck.name == name
        )
    )
    previous = check.status if check is not None else None
    if check is None:
        check = PullRequestCheck(pull_request_id=pr.id, name=name)
        session.add(check)
    check.status = outcome
    check.details = details or {}
    session.flush()
    pr.validation_results = _mirror(dict(pr.validation_results or {}), _checks(session, pr.id))
    events.record_transition(
        session,
        entity="PullRequestCheck",
        entity_id=check.id,
        from_status=previous,
        to_status=outcome,
        customer_id=customer_id,
        actor=actor,
        data={"pull_request_id": str(pr.id), "name": name, "details": check.details},
    )
    session.flush()
    return check


__all__ = [
    "BLOCKING_CHECKS",
    "PullRequestPage",
    "approve_pull_request",
    "close_pull_request",
    "create_pull_request",
    "get_pull_request",
    "list_checks",
    "list_pull_requests",
    "merge_blockers",
    "merge_pull_request",
    "open_pull_request",
    "pull_request_page",
    "record_check",
    "request_changes",
    "transition_pull_request",
]

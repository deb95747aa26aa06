"""The pull request list: the newest few, or keyset pages both ways with totals.

:mod:`flightlog.services.pull_requests` re-exports both operations; they live
here so that module stays about one pull request's life.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from flightlog.enums import PullRequestStatus
from flightlog.errors import ValidationError
from flightlog.models import Project, PullRequest, Task
from flightlog.services._common import get_owned, require
from flightlog.services._paging import id_page

MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class PullRequestPage:
    """A page of pull requests, newest first, with the cursors to the pages around it.

    ``next_cursor`` (pass as ``cursor``) is None on the last page,
    ``previous_cursor`` (pass as ``before``) None on the first; ``total`` and
    ``offset`` are counted only when asked for, so a page reads "41-60 of 213".
    """

    items: list[PullRequest]
    next_cursor: uuid.UUID | None
    previous_cursor: uuid.UUID | None = None
    total: int | None = None
    offset: int | None = None


def _filtered(
    session: Session,
    customer_id: uuid.UUID,
    project_id: uuid.UUID | None,
    task_id: uuid.UUID | None,
    status: PullRequestStatus | str | Sequence[PullRequestStatus | str] | None,
) -> Select[tuple[PullRequest]]:
    """The customer's pull requests matching the filters, unordered."""
    if project_id is not None:
        get_owned(session, Project, project_id, customer_id=customer_id)
    if task_id is not None:
        get_owned(session, Task, task_id, customer_id=customer_id)
    stmt = (
        select(PullRequest)
        .join(Project, Project.id == PullRequest.project_id)
        .where(Project.customer_id == customer_id)
    )
    if project_id is not None:
        stmt = stmt.where(PullRequest.project_id == project_id)
    if task_id is not None:
        stmt = stmt.where(PullRequest.task_id == task_id)
    if status is not None:
        values = [status] if isinstance(status, str) else list(status)
        try:
            stmt = stmt.where(PullRequest.status.in_([PullRequestStatus(v) for v in values]))
        except ValueError:
            known = ", ".join(PullRequestStatus)
            raise ValidationError(
                f"unknown pull request status in {values!r}; expected some of {known}"
            ) from None
    return stmt


def list_pull_requests(
    session: Session,
    customer_id: uuid.UUID,
    /,
    *,
    project_id: uuid.UUID | None = None,
    task_id: uuid.UUID | None = None,
    status: PullRequestStatus | str | Sequence[PullRequestStatus | str] | None = None,
    limit: int = 100,
) -> list[PullRequest]:
    """The customer's newest pull requests (:func:`pull_request_page` pages through all).

    A ``project_id`` or ``task_id`` that is not the customer's is
    :class:`NotFound`, as for the event log, rather than an empty list.
    """
    require(1 <= limit <= MAX_PAGE_SIZE, f"limit must be between 1 and {MAX_PAGE_SIZE}")
    stmt = _filtered(session, customer_id, project_id, task_id, status)
    return list(session.scalars(stmt.order_by(PullRequest.id.desc()).limit(limit)).all())


def pull_request_page(
    session: Session,
    customer_id: uuid.UUID,
    /,
    *,
    project_id: uuid.UUID | None = None,
    task_id: uuid.UUID | None = None,
    status: PullRequestStatus | str | Sequence[PullRequestStatus | str] | None = None,
    cursor: uuid.UUID | None = None,
    before: uuid.UUID | None = None,
    total: bool = False,
    limit: int = 50,
) -> PullRequestPage:
    """The customer's pull requests newest first, a page at a time, both ways.

    A separate operation from :func:`list_pull_requests`, whose answer (a bare
    list, over HTTP a JSON array) has no room for cursors without breaking its
    callers. Pass ``next_cursor`` as ``cursor`` for the page after, ``previous_cursor``
    as ``before`` for the page before; ``total=True`` also counts the matching pull
    requests and the page's offset among them. A cursor is a position only (ids
    are UUIDv7): any id, even another customer's, pages through the caller's own.
    """
    require(1 <= limit <= MAX_PAGE_SIZE, f"limit must be between 1 and {MAX_PAGE_SIZE}")
    stmt = _filtered(session, customer_id, project_id, task_id, status)
    fields = id_page(
        session, stmt, PullRequest.id, cursor=cursor, before=before, limit=limit, total=total
    )
    return PullRequestPage(**fields)


__all__ = ["MAX_PAGE_SIZE", "PullRequestPage", "list_pull_requests", "pull_request_page"]

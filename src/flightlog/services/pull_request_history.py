"""A pull request's review history: who opened, asked for changes, approved, merged or closed it.

Every move through review is already an audit event (``STATUS_CHANGE`` of the
entity ``PullRequest``, with the actor and the comment); this reads them back
for one pull request, through the index on ``(entity_type, entity_id)``. Check
outcomes are the checks' own rows (``pull_requests.list_checks``).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from flightlog.models import Event
from flightlog.services.lifecycle import PULL_REQUEST_LIFECYCLE
from flightlog.services.pull_requests import get_pull_request


def review_history(
    session: Session, customer_id: uuid.UUID, /, pull_request_id: uuid.UUID
) -> list[Event]:
    """The pull request's status changes, oldest first, each with its actor and comment.

    ``data`` holds ``from``, ``to`` and, when one was given, ``comment``.
    Another customer's pull request is :class:`NotFound`, as a missing one.
    """
    get_pull_request(session, customer_id, pull_request_id)
    stmt = (
        select(Event)
        .where(
            Event.entity_type == PULL_REQUEST_LIFECYCLE.entity,
            Event.entity_id == str(pull_request_id),
            Event.customer_id == customer_id,
        )
        .order_by(Event.id)
    )
    return list(session.scalars(stmt).all())


__all__ = ["review_history"]

"""Helpers every service uses: loading or raising, the clock, and error translation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from flightlog.errors import Conflict, NotFound, ValidationError

M = TypeVar("M")


def utc_now() -> datetime:
    """Service-side timestamps (started/completed) in aware UTC."""
    return datetime.now(UTC)


async def get_or_raise(
    session: AsyncSession,
    model: type[M],
    key: Any,
    *,
    customer_id: uuid.UUID | None = None,
    for_update: bool = False,
) -> M:
    """Load a row by primary key or raise :class:`NotFound`.

    With ``customer_id``, a row of another tenant is reported as not found:
    callers must not learn that it exists.
    """
    row = await session.get(model, key, with_for_update=for_update or None)
    if row is None or (
        customer_id is not None and getattr(row, "customer_id", customer_id) != customer_id
    ):
        raise NotFound(f"{model.__name__} {key} not found", entity=model.__name__, id=str(key))
    return row


def translate_integrity_error(exc: IntegrityError, *, what: str) -> Exception:
    """Map a constraint violation the database caught to a domain error."""
    message = str(exc.orig).lower()
    if "unique" in message or "duplicate" in message:
        return Conflict(f"{what} already exists", cause=str(exc.orig))
    if "foreign key" in message:
        return NotFound(f"{what} refers to something that does not exist", cause=str(exc.orig))
    return ValidationError(f"{what} breaks a database rule: {exc.orig}", cause=str(exc.orig))


def require(condition: bool, message: str, **details: Any) -> None:
    """Raise :class:`ValidationError` unless ``condition`` holds."""
    if not condition:
        raise ValidationError(message, **details)


#: Times a caller may give: far wider than any real workflow, narrow enough that
#: converting to UTC cannot overflow and both databases can store the value.
EARLIEST_TIME = datetime(1000, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(9000, 1, 1, tzinfo=UTC)


def time_in_range(value: datetime) -> bool:
    """Whether an aware time lies in [EARLIEST_TIME, LATEST_TIME) (no overflow on the way)."""
    try:
        return EARLIEST_TIME <= value.astimezone(UTC) < LATEST_TIME
    except (OverflowError, ValueError):
        return False


def _must_be_aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must be timezone-aware (UTC)")
    if not time_in_range(value):
        raise ValueError("must be between 1000-01-01 and 9000-01-01 UTC")
    return value


#: A datetime field of an input model that refuses naive values rather than guess their zone.
AwareDatetime = Annotated[datetime, AfterValidator(_must_be_aware)]

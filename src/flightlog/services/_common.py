"""Helpers every service uses: loading or raising, the clock, and error translation."""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Annotated, Any, Final, TypeVar

from pydantic import AfterValidator
from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, class_mapper

from flightlog.errors import Conflict, NotFound, ValidationError
from flightlog.models import (
    AgentRun,
    Artifact,
    Modification,
    Project,
    ProjectContext,
    PullRequest,
    Task,
    TaskRun,
)

M = TypeVar("M")
E = TypeVar("E", bound=Enum)
_C = TypeVar("_C")


class Unset(Enum):
    """A parameter the caller did not give, where ``None`` is a value (clear the field)."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


#: The default of an optional field: left out, it keeps its value (or the model's default).
UNSET: Final = Unset.UNSET


#: ``Session.info`` key: the service a Store call runs as the whole of its transaction.
UNIT_SERVICE = "flightlog.unit_service"


def whole_unit(session: Session, *services: object) -> bool:
    """Whether one of ``services`` is the whole of the session's transaction (a Store call).

    Then nothing else shares the transaction, and a failure rolls all of it back:
    a savepoint to undo only the service's own work would be a wasted round trip.
    """
    return session.info.get(UNIT_SERVICE) in services


def given(**values: object) -> dict[str, Any]:
    """The keyword arguments that were given, i.e. not :data:`UNSET`."""
    return {name: value for name, value in values.items() if value is not UNSET}


#: Rows that belong to a customer through their task, or through their project.
_OWNED_THROUGH_TASK: tuple[type[Any], ...] = (TaskRun, AgentRun, Artifact)
_OWNED_THROUGH_PROJECT: tuple[type[Any], ...] = (ProjectContext, Modification, PullRequest)


def utc_now() -> datetime:
    """Service-side timestamps (started/completed) in aware UTC."""
    return datetime.now(UTC)


#: How far ahead of this server's clock a caller's measured time may be (its clock's skew).
MAX_CLOCK_SKEW = timedelta(minutes=5)


def measured_time(value: datetime | None, name: str) -> datetime:
    """A time the caller measured itself (validated, in UTC), else now.

    Callers that record after the fact (a tracer flushing its buffer after an
    outage, a replay of history) give the times they saw, so durations and
    the timeline say when things happened rather than when they were written.
    """
    if value is None:
        return utc_now()
    if not isinstance(value, datetime):
        raise ValidationError(
            f"{name} must be a timezone-aware datetime, got {value!r}", field=name
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            f"{name} must be timezone-aware (UTC), got {value.isoformat()}", field=name
        )
    if not time_in_range(value):
        raise ValidationError(f"{name} must be between 1000-01-01 and 9000-01-01 UTC", field=name)
    if value - utc_now() > MAX_CLOCK_SKEW:
        raise ValidationError(
            f"{name} ({value.isoformat()}) is in the future; give the time it happened",
            field=name,
        )
    return value.astimezone(UTC)


#: How far a measured duration may differ from its measured end minus its start: a
#: duration from a monotonic clock and two wall-clock times rarely agree to the microsecond.
DURATION_TOLERANCE = timedelta(milliseconds=1)


def measured_duration(
    duration: float | None,
    started: datetime | None,
    ended: datetime | None,
    *,
    name: str = "duration_seconds",
    end_name: str = "completed_at",
) -> tuple[datetime | None, float | None]:
    """The end and the duration a caller gave, made one consistent pair with the start.

    A duration alone puts the end at start + duration (the caller timed the work
    with its own clock); given with an end, it must agree with end - start
    (within :data:`DURATION_TOLERANCE`), or the record would contradict itself.
    ``ended`` must be validated already; returns ``(ended, duration)``, both None
    when no duration was given.
    """
    if duration is None:
        return ended, None
    if (
        isinstance(duration, bool)
        or not isinstance(duration, int | float)
        or not math.isfinite(duration)
    ):
        raise ValidationError(
            f"{name} must be a finite number of seconds, got {duration!r}", field=name
        )
    if duration < 0:
        raise ValidationError(f"{name} cannot be negative, got {duration}", field=name)
    if started is None:
        raise ValidationError(f"{name} needs a start: this run never started", field=name)
    try:
        implied = started + timedelta(seconds=duration)
    except OverflowError:
        raise ValidationError(f"{name} ({duration}) is far too long", field=name) from None
    if ended is None:
        if implied - utc_now() > MAX_CLOCK_SKEW:
            raise ValidationError(
                f"{name} ({duration} s) from the start ({started.isoformat()}) ends in the "
                "future; give the duration it took",
                field=name,
            )
        return implied, float(duration)
    measured = (ended - started).total_seconds()
    if abs(implied - ended) > DURATION_TOLERANCE:
        raise ValidationError(
            f"{name} ({duration} s) does not match {end_name} minus the start "
            f"({measured} s); give a duration that agrees with the two times, or one of them",
            field=name,
        )
    return ended, float(duration)


def member(enum_cls: type[E], value: E | str, what: str) -> E:
    """``value`` as a member of ``enum_cls`` (any spelling it accepts), else a ValidationError."""
    try:
        return enum_cls(value)
    except ValueError:
        choices = ", ".join(str(m.value) for m in enum_cls)
        raise ValidationError(
            f"{what} must be one of {choices}, got {value!r}", field=what
        ) from None


def not_before(
    later: datetime, earlier: datetime | None, what: str, *, field: str | None = None
) -> None:
    """Refuse an end measured before its start (both aware); ``field`` defaults to ``what``."""
    if earlier is not None and later < earlier:
        raise ValidationError(
            f"{what} ({later.isoformat()}) is before the start ({earlier.isoformat()})",
            field=field or what,
        )


def not_found(model: type[Any], key: Any) -> NotFound:
    """The one answer for a row that is missing or another customer's: it names only ``key``."""
    return NotFound(f"{model.__name__} {key} not found", entity=model.__name__, id=str(key))


def owned_by(model: type[Any], customer_id: uuid.UUID) -> ColumnElement[bool]:
    """SQL: the row of ``model`` belongs to the customer, directly or through its task or project.

    Raises ``TypeError`` for a model with no owner, so a tenant check can
    never pass silently because the row has no ``customer_id`` column.
    """
    if model in _OWNED_THROUGH_TASK:
        return exists().where(Task.id == model.task_id, Task.customer_id == customer_id)
    if model in _OWNED_THROUGH_PROJECT:
        return exists().where(Project.id == model.project_id, Project.customer_id == customer_id)
    owner = getattr(model, "customer_id", None)
    if owner is None:
        raise TypeError(f"{model.__name__} has no owning customer to check")
    clause: ColumnElement[bool] = owner == customer_id
    return clause


def get_owned(
    session: Session,
    model: type[M],
    key: Any,
    *,
    customer_id: uuid.UUID,
    for_update: bool = False,
    no_key: bool = False,
) -> M:
    """The customer's row of ``model`` with primary key ``key``, or :class:`NotFound`.

    Ownership is part of the one query that loads the row, so another
    tenant's row is never loaded, locked or used: the caller gets exactly
    the answer a random key gets, naming only the entity and key it asked
    for (never the row's task or project). With ``for_update`` the row is
    locked (PostgreSQL ``FOR UPDATE``, or ``FOR NO KEY UPDATE`` with ``no_key``:
    writers of rows that merely refer to it are not held up) and read fresh.
    """
    [primary_key] = class_mapper(model).primary_key
    stmt = select(model).where(primary_key == key, owned_by(model, customer_id))
    if for_update:
        stmt = stmt.with_for_update(key_share=no_key).execution_options(populate_existing=True)
    row: M | None = session.scalar(stmt)
    if row is None:
        raise not_found(model, key)
    return row


def get_or_raise(
    session: Session,
    model: type[M],
    key: Any,
    *,
    customer_id: uuid.UUID | None = None,
    for_update: bool = False,
) -> M:
    """Load a row by primary key or raise :class:`NotFound`.

    With ``customer_id`` this is :func:`get_owned`: a row of another tenant
    is reported exactly as a missing one. Without it, no tenant is checked
    (operator paths, and rows already known to be the caller's).
    """
    if customer_id is not None:
        return get_owned(session, model, key, customer_id=customer_id, for_update=for_update)
    row = session.get(model, key, with_for_update=for_update or None)
    if row is None:
        raise not_found(model, key)
    return row


#: The rule migration 0009's triggers enforce on ``task_dependencies``: named in their error.
DEPENDENCY_CYCLE_RULE = "ck_task_dependencies_no_cycle"


def is_dependency_cycle(exc: IntegrityError) -> bool:
    """Whether the database refused a dependency edge because it closes a cycle."""
    return DEPENDENCY_CYCLE_RULE in str(exc.orig)


def translate_integrity_error(exc: IntegrityError, *, what: str) -> Exception:
    """Map a constraint violation the database caught to a domain error."""
    if is_dependency_cycle(exc):
        return ValidationError(
            "this dependency would create a cycle (refused by the database)", cause=str(exc.orig)
        )
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


def chunks(values: Iterable[_C], size: int = 1000) -> Iterator[list[_C]]:
    """``values`` in lists of at most ``size``: IN lists stay far below any driver's limit
    on parameters (asyncpg 32,767, SQLite 250,000)."""
    batch: list[_C] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def fitted(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, two long texts kept apart.

    Whole when it fits; else its first characters, ``~`` and a hash of the whole,
    so that two texts sharing their first ``limit`` characters (a producer's long
    conversation ids or workflow names) do not become one key when cut.
    """
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{text[: limit - 33]}~{digest}"

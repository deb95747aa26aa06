"""Customers (tenants, seed 002): sign-up, plan, suspension, churn; a default for single teams.

A customer that is not ACTIVE keeps read access to its data but cannot
write: :func:`assert_can_write` is what ``Store.transaction()`` checks.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flightlog.enums import CustomerPlan, CustomerStatus
from flightlog.errors import Conflict, NotFound, PermissionDenied, ValidationError
from flightlog.models import Customer
from flightlog.services import events
from flightlog.services._common import (
    UNSET,
    Unset,
    get_or_raise,
    given,
    require,
    translate_integrity_error,
)
from flightlog.services._dialect import dialect_name
from flightlog.services.event_feed import TAKE_TRANSACTION_ID_COLUMN, TRANSACTION_ID_TAKEN
from flightlog.services.lifecycle import CUSTOMER_LIFECYCLE, move

DEFAULT_CUSTOMER_EMAIL = "default@flightlog.local"
DEFAULT_CUSTOMER_NAME = "Default"


def find_default_customer(session: Session) -> uuid.UUID | None:
    """The default customer's id, or None before anything created it (a read only)."""
    stmt = select(Customer.id).where(Customer.email == DEFAULT_CUSTOMER_EMAIL)
    found: uuid.UUID | None = session.scalar(stmt)
    return found


def ensure_default_customer(session: Session) -> uuid.UUID:
    """The default customer's id, creating it on first use (safe under concurrency)."""
    existing = find_default_customer(session)
    if existing is not None:
        return existing
    try:
        with session.begin_nested():
            customer = Customer(
                name=DEFAULT_CUSTOMER_NAME, email=DEFAULT_CUSTOMER_EMAIL, plan=CustomerPlan.FREE
            )
            session.add(customer)
    except IntegrityError:
        found = find_default_customer(session)  # another opener created it first
        assert found is not None
        return found
    return customer.id


def assert_can_write(session: Session, customer_id: uuid.UUID) -> None:
    """Refuse writes for a customer that is not ACTIVE (seed 002: SUSPENDED, CHURNED).

    On PostgreSQL the same statement assigns the transaction its id, which every
    Flightlog write transaction takes before it draws an event id (see
    :mod:`flightlog.services.event_feed`); the session remembers it, so the
    ingest path does not ask again.
    """
    query = select(Customer.status).where(Customer.id == customer_id)
    if dialect_name(session) == "postgresql":
        row = session.execute(query.add_columns(TAKE_TRANSACTION_ID_COLUMN)).first()
        session.info[TRANSACTION_ID_TAKEN] = True
        status = None if row is None else row[0]
    else:
        status = session.scalar(query)
    if status is None:
        raise NotFound(f"Customer {customer_id} not found", entity="Customer")
    if status is not CustomerStatus.ACTIVE:
        raise PermissionDenied(
            f"Customer {customer_id} is {status.value}: its data is read-only. "
            "Reactivate the customer to write again.",
            status=status.value,
        )


# --- Customer records and their lifecycle (seed 002) -------------------------------------------

MAX_PAGE_SIZE = 500
# Deliberately loose: one "@", no spaces, a dot in the domain. Real verification of an
# address is a mail round trip, which is not the database layer's job.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class CustomerPage:
    """A page of customers, oldest first, with the cursor for the next page."""

    items: list[Customer]
    next_cursor: uuid.UUID | None


def _clean_name(name: Any) -> str:
    require(
        isinstance(name, str) and 0 < len(name.strip()) <= 255,
        "customer name must be 1 to 255 characters",
    )
    return str(name).strip()


def _clean_email(email: Any) -> str:
    """Lower-cased, so that uniqueness holds however the address was typed."""
    require(isinstance(email, str), "email must be a string")
    value = str(email).strip().lower()
    require(
        len(value) <= 320 and _EMAIL.match(value) is not None,
        f"{email!r} is not an email address",
    )
    return value


def _clean_plan(plan: Any) -> CustomerPlan:
    try:
        return CustomerPlan(plan)
    except ValueError:
        raise ValidationError(
            f"unknown plan {plan!r}; expected one of {', '.join(CustomerPlan)}"
        ) from None


def _clean_metadata(metadata: Any) -> dict[str, Any]:
    require(isinstance(metadata, dict), "metadata must be a JSON object")
    return dict(metadata)


def create_customer(
    session: Session,
    /,
    *,
    name: str,
    email: str,
    plan: CustomerPlan | str = CustomerPlan.FREE,
    metadata: dict[str, Any] | None = None,
    actor: str | None = None,
) -> Customer:
    """Register a tenant, ACTIVE from the start; a taken email is a :class:`Conflict`.

    An operator act: it takes no ``customer_id``, the new customer is the one
    it creates (open a Store with its id to act for it). The explicit lookup
    gives a clear message; the savepoint catches the race in which two
    sign-ups with one address both pass it.
    """
    clean_name = _clean_name(name)
    clean_email = _clean_email(email)
    clean_plan = _clean_plan(plan)
    clean_metadata = _clean_metadata({} if metadata is None else metadata)
    taken = session.scalar(select(Customer.id).where(Customer.email == clean_email))
    if taken is not None:
        raise Conflict(f"a customer with email {clean_email} already exists", email=clean_email)
    customer = Customer(
        name=clean_name,
        email=clean_email,
        plan=clean_plan,
        status=CustomerStatus.ACTIVE,
        metadata_=clean_metadata,
    )
    try:
        with session.begin_nested():
            session.add(customer)
    except IntegrityError as exc:
        raise translate_integrity_error(exc, what=f"customer with email {clean_email}") from None
    events.record_transition(
        session,
        entity=CUSTOMER_LIFECYCLE.entity,
        entity_id=customer.id,
        from_status=None,
        to_status=CustomerStatus.ACTIVE,
        customer_id=customer.id,
        actor=actor,
        data={"plan": clean_plan.value},
    )
    session.flush()
    return customer


def get_customer(session: Session, customer_id: uuid.UUID, /) -> Customer:
    """The customer record, or :class:`NotFound`."""
    return get_or_raise(session, Customer, customer_id)


def update_customer(
    session: Session,
    customer_id: uuid.UUID,
    /,
    *,
    name: str | Unset = UNSET,
    plan: CustomerPlan | str | Unset = UNSET,
    metadata: dict[str, Any] | Unset = UNSET,
) -> Customer:
    """Change the name, plan or metadata given; the ones left out keep their values.

    Status changes go through :func:`set_customer_status`. The email is not
    changeable here: it is the tenant's identity for sign-in and billing, and
    changing it deserves its own verified flow.
    """
    changes = given(name=name, plan=plan, metadata=metadata)
    clean: dict[str, Any] = {}
    if "name" in changes:
        clean["name"] = _clean_name(changes["name"])
    if "plan" in changes:
        clean["plan"] = _clean_plan(changes["plan"])
    if "metadata" in changes:
        clean["metadata_"] = _clean_metadata(changes["metadata"])
    customer = get_or_raise(session, Customer, customer_id, for_update=True)
    for attribute, value in clean.items():
        setattr(customer, attribute, value)
    session.flush()
    return customer


def list_customers(
    session: Session,
    *,
    status: CustomerStatus | str | None = None,
    plan: CustomerPlan | str | None = None,
    cursor: uuid.UUID | None = None,
    limit: int = 50,
) -> CustomerPage:
    """Every tenant: an operator's view, so it takes no ``customer_id``.

    Never expose it to a tenant; the tenant-bound facade deliberately lacks it.
    """
    require(1 <= limit <= MAX_PAGE_SIZE, f"limit must be between 1 and {MAX_PAGE_SIZE}")
    stmt = select(Customer)
    if status is not None:
        try:
            stmt = stmt.where(Customer.status == CustomerStatus(status))
        except ValueError:
            raise ValidationError(
                f"unknown status {status!r}; expected one of {', '.join(CustomerStatus)}"
            ) from None
    if plan is not None:
        stmt = stmt.where(Customer.plan == _clean_plan(plan))
    if cursor is not None:
        stmt = stmt.where(Customer.id > cursor)
    rows = list((session.scalars(stmt.order_by(Customer.id).limit(limit + 1))).all())
    items = rows[:limit]
    return CustomerPage(items=items, next_cursor=items[-1].id if len(rows) > limit else None)


def set_customer_status(
    session: Session,
    customer_id: uuid.UUID,
    /,
    status: CustomerStatus | str,
    *,
    actor: str | None = None,
    reason: str | None = None,
) -> Customer:
    """Suspend, reactivate or churn a customer, audited with who and why.

    This is an operator action: the caller's session must not be one that
    :func:`assert_can_write` guards, or a suspended customer could never be
    reactivated.
    """
    try:
        target = CustomerStatus(status)
    except ValueError:
        raise ValidationError(
            f"unknown status {status!r}; expected one of {', '.join(CustomerStatus)}"
        ) from None
    customer = session.get(Customer, customer_id, with_for_update=True, populate_existing=True)
    if customer is None:
        raise NotFound(f"Customer {customer_id} not found", entity="Customer")
    move(
        session,
        CUSTOMER_LIFECYCLE,
        customer,
        target,
        customer_id=customer.id,
        actor=actor,
        data={"reason": reason} if reason else None,
    )
    session.flush()
    return customer


def suspend_customer(
    session: Session,
    customer_id: uuid.UUID,
    /,
    *,
    actor: str | None = None,
    reason: str | None = None,
) -> Customer:
    """Operator: SUSPENDED, read-only until reactivated (:func:`set_customer_status`)."""
    return set_customer_status(
        session, customer_id, CustomerStatus.SUSPENDED, actor=actor, reason=reason
    )


def reactivate_customer(
    session: Session,
    customer_id: uuid.UUID,
    /,
    *,
    actor: str | None = None,
    reason: str | None = None,
) -> Customer:
    """Operator: ACTIVE again after a suspension (:func:`set_customer_status`)."""
    return set_customer_status(
        session, customer_id, CustomerStatus.ACTIVE, actor=actor, reason=reason
    )


def churn_customer(
    session: Session,
    customer_id: uuid.UUID,
    /,
    *,
    actor: str | None = None,
    reason: str | None = None,
) -> Customer:
    """Operator: CHURNED, for good (:func:`set_customer_status`)."""
    return set_customer_status(
        session, customer_id, CustomerStatus.CHURNED, actor=actor, reason=reason
    )

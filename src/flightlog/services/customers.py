"""The tenant every tenant-scoped call is made for; a default one for single-team use."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from flightlog.enums import CustomerPlan, CustomerStatus
from flightlog.errors import NotFound, PermissionDenied
from flightlog.models import Customer

DEFAULT_CUSTOMER_EMAIL = "default@flightlog.local"
DEFAULT_CUSTOMER_NAME = "Default"


async def ensure_default_customer(session: AsyncSession) -> uuid.UUID:
    """The default customer's id, creating it on first use (safe under concurrency)."""
    stmt = select(Customer.id).where(Customer.email == DEFAULT_CUSTOMER_EMAIL)
    existing = await session.scalar(stmt)
    if existing is not None:
        return existing
    try:
        async with session.begin_nested():
            customer = Customer(
                name=DEFAULT_CUSTOMER_NAME, email=DEFAULT_CUSTOMER_EMAIL, plan=CustomerPlan.FREE
            )
            session.add(customer)
    except IntegrityError:
        found = await session.scalar(stmt)
        assert found is not None
        return found
    return customer.id


async def assert_can_write(session: AsyncSession, customer_id: uuid.UUID) -> None:
    """Refuse writes for a customer that is not ACTIVE (seed 002: SUSPENDED, CHURNED)."""
    status = await session.scalar(select(Customer.status).where(Customer.id == customer_id))
    if status is None:
        raise NotFound(f"Customer {customer_id} not found", entity="Customer")
    if status is not CustomerStatus.ACTIVE:
        raise PermissionDenied(
            f"Customer {customer_id} is {status.value}: its data is read-only. "
            "Reactivate the customer to write again.",
            status=status.value,
        )

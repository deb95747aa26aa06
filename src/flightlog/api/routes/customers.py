"""Operator routes on customers: deleting one with everything it owns (seed 002).

Only a key with the ``operator`` scope may call them (``OperatorKey``); any
other key is 403 whatever customer it names, so a tenant learns nothing about
which customers exist. The deletion is ``store.customers.delete`` for the
named customer: one transaction, audited in a record no customer owns, blob
files removed after the commit.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from flightlog.api.auth import OperatorKey, context
from flightlog.api.context import ApiContext
from flightlog.errors import Conflict
from flightlog.schemas.customers import CustomerDeletionOut

router = APIRouter(prefix="/customers", tags=["customers"])


@router.delete("/{customer_id}", response_model=CustomerDeletionOut)
async def delete_customer(
    customer_id: uuid.UUID,
    key: OperatorKey,
    ctx: Annotated[ApiContext, Depends(context)],
    reason: Annotated[str | None, Query(max_length=1000)] = None,
    actor: Annotated[str | None, Query(max_length=255)] = None,
) -> CustomerDeletionOut:
    """Operator: delete the customer and everything it owns; the audit record stays.

    The customer the operator's own key belongs to cannot be deleted this way
    (the key would go with it mid-request): use another operator's key, or
    ``flightlog customer delete``. ``actor`` defaults to the key's id.
    """
    if customer_id == key.customer_id:
        raise Conflict(
            "an operator key cannot delete its own customer; use another operator's key "
            "or 'flightlog customer delete'",
            customer_id=str(customer_id),
        )
    result = await ctx.store_for(customer_id).customers.delete(
        actor=actor or f"api-key:{key.key_id}", reason=reason
    )
    return CustomerDeletionOut.model_validate(result)

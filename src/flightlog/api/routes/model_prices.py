"""The model price table computed costs use: readable with any key, edited by operators only.

The table is the operator's, one for every customer, and the HTTP API has no
operator credential (every key speaks for a tenant), so there is no route
that changes it: operators use ``flightlog prices`` or
``store.model_prices`` (see docs/model-prices.md).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from flightlog.api.auth import TenantStore
from flightlog.schemas.model_prices import ModelPriceOut

router = APIRouter(prefix="/model-prices", tags=["model prices"])


@router.get("", response_model=list[ModelPriceOut])
async def list_model_prices(
    store: TenantStore,
    model: Annotated[
        str | None,
        Query(max_length=1000, description="Only the prices that match this model name."),
    ] = None,
    origin: Literal["shipped", "operator"] | None = None,
) -> list[ModelPriceOut]:
    """Operator prices, then shipped ones, in the order a lookup tries them."""
    prices = await store.model_prices.list(model=model, origin=origin)
    return [ModelPriceOut.model_validate(price) for price in prices]

"""The model price table as the API shows it (read-only over HTTP; edited by operators)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import Field

from flightlog.schemas._base import Out


class ModelPriceOut(Out):
    """One price, US dollars per million tokens, for a model name or prefix from a date on."""

    id: uuid.UUID | None = Field(description="The operator's row; null for a shipped price.")
    model: str = Field(description="The normalised model name, or prefix if is_prefix.")
    is_prefix: bool
    input_usd_per_mtok: Decimal
    output_usd_per_mtok: Decimal
    cached_input_usd_per_mtok: Decimal | None = Field(
        description="Null: cached input tokens cost the input price."
    )
    effective_from: datetime
    origin: Literal["shipped", "operator"] = Field(
        description="operator rows override the prices shipped with Flightlog."
    )
    note: str | None = Field(description="The operator's note, or the shipped price's source.")

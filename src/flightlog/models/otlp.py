"""What OpenTelemetry ingest keeps besides the record itself: the span ledger and prices."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Numeric, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from flightlog.db.base import Base, Timestamps, UuidPk
from flightlog.db.types import utcnow
from flightlog.models._columns import owner_fk


class OtlpSpan(Base):
    """One span a customer sent, by trace and span id: the ledger that makes ingest exact.

    A span delivered twice finds its row and changes nothing. A span whose
    parent has not arrived yet waits here with its content in ``pending``
    and is turned into records when the parent comes, in whatever request
    that is. Once recorded, ``run_id`` and ``agent_run_id`` (the agent step
    enclosing the span) are what its children attach to, and ``pending`` is
    cleared.
    """

    __tablename__ = "otlp_spans"
    __table_args__ = (
        Index("ix_otlp_spans_run_id", "run_id"),
        Index("ix_otlp_spans_agent_run_id", "agent_run_id"),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    trace_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    span_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    parent_span_id: Mapped[str | None] = mapped_column(String(16))
    run_id: Mapped[uuid.UUID | None] = owner_fk(
        "task_runs.id", nullable=True, index=False, deferrable=True
    )
    agent_run_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agent_runs.id", ondelete="SET NULL")
    )
    pending: Mapped[dict[str, Any] | None]
    received_at: Mapped[datetime] = mapped_column(server_default=utcnow())


class ModelPrice(UuidPk, Timestamps, Base):
    """An operator's price for a model, in US dollars per million tokens, from a date on.

    ``model`` matches a model name exactly, or as a prefix when
    ``is_prefix`` (``gpt-4o`` priced once for ``gpt-4o-2024-08-06``). These
    rows override the defaults shipped with Flightlog (see
    :mod:`flightlog.otlp.prices`).
    """

    __tablename__ = "model_prices"
    __table_args__ = (
        UniqueConstraint("model", "is_prefix", "effective_from"),
        CheckConstraint(
            "input_usd_per_mtok >= 0 AND output_usd_per_mtok >= 0 "
            "AND (cached_input_usd_per_mtok IS NULL OR cached_input_usd_per_mtok >= 0)",
            name="prices_nonnegative",
        ),
    )

    model: Mapped[str] = mapped_column(String(200))
    is_prefix: Mapped[bool] = mapped_column(default=False, server_default=false())
    input_usd_per_mtok: Mapped[Decimal] = mapped_column(Numeric(14, 6))
    output_usd_per_mtok: Mapped[Decimal] = mapped_column(Numeric(14, 6))
    cached_input_usd_per_mtok: Mapped[Decimal | None] = mapped_column(Numeric(14, 6))
    effective_from: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(String(500))

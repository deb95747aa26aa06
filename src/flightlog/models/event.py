"""The append-only event log (seeds 001, 002), including audit events."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ForeignKey, Identity, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from flightlog.db import partitions as _partitions  # noqa: F401  (its INSERT hook)
from flightlog.db.base import Base, CreatedAt, str_enum
from flightlog.db.partition_layout import PARTITION_KEY_INFO
from flightlog.db.types import BigIntIdentity
from flightlog.enums import EventSeverity, EventType
from flightlog.models._columns import owner_fk, shared_fk


class Event(CreatedAt, Base):
    """One thing that happened. ``id`` only grows, so it is the pagination cursor.

    SQLite's AUTOINCREMENT keeps ids from being reused after the newest rows
    are deleted; without it a reader holding cursor N could miss new rows.

    On PostgreSQL the table is partitioned by month of ``created_at`` (migration
    0010, decision 0016): its primary key there is (id, created_at), ids still
    come from the one identity, and the parent event reference is kept by
    triggers rather than a foreign key. The model describes what both dialects
    share; ``info`` names the partition key for :mod:`flightlog.db.partitions`.
    """

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_task_created", "task_id", "created_at"),
        Index("ix_events_task_id_id", "task_id", "id"),
        Index("ix_events_run_id_id", "run_id", "id"),
        Index("ix_events_run_created", "run_id", "created_at", "id"),
        Index("ix_events_customer_created", "customer_id", "created_at"),
        # PostgreSQL only: its keyset pages use one generic plan (migration 0011).
        Index("ix_events_customer_id_id", "customer_id", "id").ddl_if(dialect="postgresql"),
        Index("ix_events_entity", "entity_type", "entity_id"),
        Index("ix_events_created_at", "created_at"),
        Index(
            "ix_events_trace_span",
            "trace_id",
            "span_id",
            postgresql_where=text("trace_id IS NOT NULL"),
            sqlite_where=text("trace_id IS NOT NULL"),
        ),
        {"sqlite_autoincrement": True, "info": {PARTITION_KEY_INFO: "created_at"}},
    )

    id: Mapped[int] = mapped_column(BigIntIdentity, Identity(), primary_key=True)
    customer_id: Mapped[uuid.UUID | None] = owner_fk("customers.id", nullable=True, index=False)
    task_id: Mapped[uuid.UUID | None] = owner_fk("tasks.id", nullable=True, index=False)
    run_id: Mapped[uuid.UUID | None] = owner_fk(
        "task_runs.id", nullable=True, index=False, deferrable=True
    )
    agent_run_id: Mapped[uuid.UUID | None] = owner_fk("agent_runs.id", nullable=True)
    agent_id: Mapped[uuid.UUID | None] = shared_fk("agents.id")
    parent_event_id: Mapped[int | None] = mapped_column(
        BigIntIdentity, ForeignKey("events.id", ondelete="SET NULL"), index=True
    )
    event_type: Mapped[EventType] = mapped_column(str_enum(EventType, "event_type"), index=True)
    severity: Mapped[EventSeverity] = mapped_column(
        str_enum(EventSeverity, "severity"),
        default=EventSeverity.INFO,
        server_default="INFO",
        index=True,
    )
    agent_role: Mapped[str | None] = mapped_column(String(100), index=True)
    content: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None]
    entity_type: Mapped[str | None] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str | None] = mapped_column(String(255))
    #: The OpenTelemetry span this event was recorded from (issue 12), if any.
    trace_id: Mapped[str | None] = mapped_column(String(32))
    span_id: Mapped[str | None] = mapped_column(String(16))

    def __repr__(self) -> str:
        return f"<Event {self.id} {self.event_type} task={self.task_id}>"


#: Seed 001 calls this table ``event_logs``; the name is kept as an alias for its users.
EventLog = Event

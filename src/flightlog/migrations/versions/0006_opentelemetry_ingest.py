"""OpenTelemetry ingest (issue 12): sessions, trace and span ids on the record, the span
ledger, operator model prices, and two event types.

- ``sessions`` groups runs by conversation; ``task_runs.session_id`` points at it.
- ``trace_id`` / ``span_id`` on runs, agent runs and events say which span made
  the row. Their indexes are partial (``WHERE trace_id IS NOT NULL``), so rows
  written any other way cost nothing to index.
- ``otlp_spans`` is the ledger of every span received, per customer: what makes
  a re-delivered span a no-op and lets a child that came first wait for its parent.
- ``ix_tasks_customer_title``: ingest finds a workflow's task by its title.
- ``model_prices`` holds the operator's prices, which override the shipped ones.
- ``events.event_type`` admits ``MODEL_CALL`` and ``TOOL_CALL``. SQLite cannot
  alter a CHECK, so it rebuilds ``events`` (batch mode, ``legacy_alter_table``
  as in 0005, because the reporting views name the table).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 15:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from flightlog.db.types import UtcDateTime, utcnow

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_OLD_EVENT_TYPES = (
    "LOG",
    "MESSAGE",
    "ERROR",
    "RESULT",
    "AGENT_START",
    "AGENT_COMPLETE",
    "SYSTEM",
    "STATUS_CHANGE",
    "APPROVAL",
    "AUDIT",
)
_NEW_EVENT_TYPES = (*_OLD_EVENT_TYPES, "MODEL_CALL", "TOOL_CALL")
_TRACE_INDEXES = (
    ("ix_task_runs_trace_id", "task_runs", ["trace_id"]),
    ("ix_agent_runs_trace_span", "agent_runs", ["trace_id", "span_id"]),
    ("ix_events_trace_span", "events", ["trace_id", "span_id"]),
)


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column(
            "created_at", UtcDateTime(timezone=True), server_default=utcnow(), nullable=False
        ),
        sa.Column(
            "updated_at", UtcDateTime(timezone=True), server_default=utcnow(), nullable=False
        ),
    ]


def _event_type_check(values: tuple[str, ...]) -> str:
    listed = ", ".join(f"'{value}'" for value in values)
    return f"event_type IN ({listed})"


def _replace_event_type_check(values: tuple[str, ...]) -> None:
    # The rebuild must keep AUTOINCREMENT, which keeps event ids from being reused.
    with op.batch_alter_table("events", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_constraint(op.f("ck_events_event_type"), type_="check")
        batch.create_check_constraint("event_type", _event_type_check(values))


def _legacy_alter_table(on: bool) -> None:
    """SQLite's table rebuilds would re-check the reporting views mid-rebuild (see 0005)."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"PRAGMA legacy_alter_table={'ON' if on else 'OFF'}")


def upgrade() -> None:
    _legacy_alter_table(True)
    _upgrade()
    _legacy_alter_table(False)


def downgrade() -> None:
    _legacy_alter_table(True)
    _downgrade()
    _legacy_alter_table(False)


def _upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=True),
        sa.Column("started_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_activity_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("details", _JSON, nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_sessions_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
        sa.UniqueConstraint(
            "customer_id", "external_id", name=op.f("uq_sessions_customer_id_external_id")
        ),
    )
    op.create_table(
        "model_prices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("is_prefix", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("input_usd_per_mtok", sa.Numeric(14, 6), nullable=False),
        sa.Column("output_usd_per_mtok", sa.Numeric(14, 6), nullable=False),
        sa.Column("cached_input_usd_per_mtok", sa.Numeric(14, 6), nullable=True),
        sa.Column("effective_from", UtcDateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        *_timestamps(),
        sa.CheckConstraint(
            "input_usd_per_mtok >= 0 AND output_usd_per_mtok >= 0 "
            "AND (cached_input_usd_per_mtok IS NULL OR cached_input_usd_per_mtok >= 0)",
            name=op.f("ck_model_prices_prices_nonnegative"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_prices")),
        sa.UniqueConstraint(
            "model",
            "is_prefix",
            "effective_from",
            name=op.f("uq_model_prices_model_is_prefix_effective_from"),
        ),
    )
    with op.batch_alter_table("task_runs") as batch:
        batch.add_column(sa.Column("session_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("trace_id", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("span_id", sa.String(length=16), nullable=True))
        batch.create_index("ix_task_runs_session_id", ["session_id"])
        batch.create_foreign_key(
            "fk_task_runs_session_id_sessions",
            "sessions",
            ["session_id"],
            ["id"],
            ondelete="SET NULL",
        )
    for table in ("agent_runs", "events"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("trace_id", sa.String(length=32), nullable=True))
            batch.add_column(sa.Column("span_id", sa.String(length=16), nullable=True))
    for name, table, columns in _TRACE_INDEXES:
        where = sa.text("trace_id IS NOT NULL")
        op.create_index(name, table, columns, postgresql_where=where, sqlite_where=where)
    op.create_table(
        "otlp_spans",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("span_id", sa.String(length=16), nullable=False),
        sa.Column("parent_span_id", sa.String(length=16), nullable=True),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("agent_run_id", sa.Uuid(), nullable=True),
        sa.Column("pending", _JSON, nullable=True),
        sa.Column(
            "received_at", UtcDateTime(timezone=True), server_default=utcnow(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_otlp_spans_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["task_runs.id"],
            name=op.f("fk_otlp_spans_run_id_task_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["agent_run_id"],
            ["agent_runs.id"],
            name=op.f("fk_otlp_spans_agent_run_id_agent_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("customer_id", "trace_id", "span_id", name=op.f("pk_otlp_spans")),
    )
    op.create_index("ix_tasks_customer_title", "tasks", ["customer_id", "title"])
    op.create_index("ix_otlp_spans_run_id", "otlp_spans", ["run_id"])
    op.create_index("ix_otlp_spans_agent_run_id", "otlp_spans", ["agent_run_id"])
    _replace_event_type_check(_NEW_EVENT_TYPES)


def _downgrade() -> None:
    op.execute("DELETE FROM events WHERE event_type IN ('MODEL_CALL', 'TOOL_CALL')")
    _replace_event_type_check(_OLD_EVENT_TYPES)
    op.drop_table("otlp_spans")
    op.drop_index("ix_tasks_customer_title", table_name="tasks")
    for name, table, _ in reversed(_TRACE_INDEXES):
        op.drop_index(name, table_name=table)
    for table in ("events", "agent_runs"):
        # Rebuilt on SQLite: events must keep AUTOINCREMENT (see _replace_event_type_check).
        kwargs = {"sqlite_autoincrement": True} if table == "events" else {}
        with op.batch_alter_table(table, table_kwargs=kwargs) as batch:
            batch.drop_column("span_id")
            batch.drop_column("trace_id")
    with op.batch_alter_table("task_runs") as batch:
        batch.drop_constraint("fk_task_runs_session_id_sessions", type_="foreignkey")
        batch.drop_index("ix_task_runs_session_id")
        batch.drop_column("span_id")
        batch.drop_column("trace_id")
        batch.drop_column("session_id")
    op.drop_table("model_prices")
    op.drop_table("sessions")

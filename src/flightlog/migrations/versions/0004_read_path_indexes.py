"""Indexes the hot read paths need (measured in benchmarks/, plans printed there).

``ix_events_run_created`` (run_id, created_at, id) serves a run's timeline,
which reads its events in time order from a cursor: without it the database
sorts every event of the run for each page, which for a run with a million
events costs seconds instead of a millisecond.

``ix_tasks_customer_id_id`` (customer_id, id) serves the task list, a
tenant's tasks newest first by id from a cursor. SQLite otherwise picks
``ix_tasks_customer_status_created`` for the tenant filter and sorts all of
the tenant's tasks per page (190 ms at 100,000 tasks); PostgreSQL otherwise
walks the primary key backwards and filters, which is fast only while the
tenant owns most of the table.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 22:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (name, table, columns) of every index this revision adds, on both dialects.
INDEXES = (
    ("ix_events_run_created", "events", ["run_id", "created_at", "id"]),
    ("ix_tasks_customer_id_id", "tasks", ["customer_id", "id"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)

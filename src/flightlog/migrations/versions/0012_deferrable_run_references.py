"""References to a run may be checked at the end of the transaction (PostgreSQL; decision 0024).

The foreign keys from ``events``, ``agent_runs``, ``otlp_spans`` and
``artifacts`` to ``task_runs`` become ``DEFERRABLE INITIALLY IMMEDIATE``.
Nothing changes for any statement that does not ask: each is still checked as
its row is written. OTLP span ingest asks (``SET CONSTRAINTS … DEFERRED``) so
that it can write a request's events, agent runs and ledger rows before it
numbers and inserts the runs they belong to, in a short tail of the
transaction under the tasks' locks; it asks for the checks to run
(``SET CONSTRAINTS … IMMEDIATE``) before its savepoint ends, so a broken
reference is still refused inside it. The delete rules (CASCADE) are
unchanged.

On the partitioned ``events`` table the change is made on the parent and
PostgreSQL makes it on every partition; a month attached later inherits it.

PostgreSQL only: SQLite has one writer, so its ingest writes the runs first
as before, and its tables keep their definitions (no table rebuild).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 16:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, constraint) of each reference to a run that span ingest defers.
RUN_REFERENCES = (
    ("events", "fk_events_run_id_task_runs"),
    ("agent_runs", "fk_agent_runs_run_id_task_runs"),
    ("otlp_spans", "fk_otlp_spans_run_id_task_runs"),
    ("artifacts", "fk_artifacts_run_id_task_runs"),
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, name in RUN_REFERENCES:
            op.execute(
                f"ALTER TABLE {table} ALTER CONSTRAINT {name} DEFERRABLE INITIALLY IMMEDIATE"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, name in RUN_REFERENCES:
            op.execute(f"ALTER TABLE {table} ALTER CONSTRAINT {name} NOT DEFERRABLE")

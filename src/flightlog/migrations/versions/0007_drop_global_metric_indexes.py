"""Drop the two global ``metric_points`` indexes no read path uses (issue 13, item 5).

``ix_metric_points_name_recorded`` (name, recorded_at) and
``ix_metric_points_recorded_at`` (recorded_at) have no task, run or customer
prefix. Every reader of metric points is scoped to a task or a run (the
series, summary and bucket services, the API and the client on top of them,
export by scope, the cascades), and those use the task/run-prefixed indexes
``ix_metric_points_task_name_recorded`` and ``ix_metric_points_run_name_recorded``.
Keeping both global indexes up to date cost 1.23x (SQLite) and 1.38x
(PostgreSQL) of the raw insert rate.

The only statements that could use ``recorded_at`` alone are the purge's. Its
batch query (``WHERE recorded_at < :cutoff ORDER BY id LIMIT n``) walks the
primary key in id order on SQLite with or without the index; on PostgreSQL the
index made it read every old row and sort them for each batch, which grows with
the square of a backlog. Without it both dialects walk the primary key; a purge
run costs one pass over the table for its last, short batch (and its dry-run
count). Decision 0010 has the plans and the figures.

The downgrade recreates both indexes exactly as 0001 made them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (name, columns) of the indexes this revision drops, as 0001 created them.
DROPPED = (
    ("ix_metric_points_name_recorded", ["name", "recorded_at"]),
    ("ix_metric_points_recorded_at", ["recorded_at"]),
)


def upgrade() -> None:
    for name, _ in DROPPED:
        op.drop_index(name, table_name="metric_points")


def downgrade() -> None:
    for name, columns in reversed(DROPPED):
        op.create_index(name, "metric_points", columns, unique=False)

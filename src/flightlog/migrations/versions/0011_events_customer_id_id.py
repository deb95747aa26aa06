"""``ix_events_customer_id_id`` (customer_id, id): a tenant's whole event stream by id.

Keyset pages of the customer's whole stream read ``customer_id = … AND id > …
ORDER BY id``. Without this index the best plan depends on the tenant's size:
the primary key in id order, filtered, for a tenant that owns most of the table,
and the tenant's own rows by ``ix_events_customer_created`` then a sort for a
small one. So PostgreSQL had to plan each page for its value, which on the
partitioned table (0010) costs ~1-2 ms of planning over every month, and one
generic plan read a small tenant's page through another tenant's month. With
it, one plan is right for every tenant (decision 0016,
``flightlog.services.event_paging``), as ``ix_tasks_customer_id_id`` (0004) is
for the task list. It is cheap to keep: a tenant's new ids arrive in order, so
inserts land at the right edge of its range (no measurable change in
PostgreSQL's batch ingest rate, measured 2026-11-30).

On PostgreSQL the index is made on the partitioned table, which makes it on
every partition; a month made later gets it when it is attached.

PostgreSQL only. SQLite plans each statement for its values and has no
partitions to plan over, so it has no use for it, and every index on
``events`` is one more B-tree per row in the locked part of each SQLite write.
(Span ingest on SQLite with and without it, three runs each of
``benchmarks/otlp.py`` on 2026-11-30, moved with the machine by more than
any difference between them: 4,000-5,500 spans/s in-process either way.)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 04:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME, TABLE, COLUMNS = "ix_events_customer_id_id", "events", ["customer_id", "id"]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(NAME, TABLE, COLUMNS)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index(NAME, table_name=TABLE)

"""Rules the database keeps itself, for rows written by raw SQL too (issue 15).

* ``updated_at`` is maintained by a trigger on every table that has it (seed
  003). PostgreSQL: a BEFORE UPDATE trigger sets ``now()`` unless the statement
  gave the column a new value. SQLite: an AFTER UPDATE trigger sets the same
  text the ORM writes (``utcnow()``, milliseconds padded to microseconds) when
  the statement left the column as it was; its own UPDATE does not fire it
  again (``recursive_triggers`` is off by default) and, should someone turn
  recursion on, it changes nothing when the value is already the current time,
  so it cannot loop.
* A dependency edge that closes a cycle is refused by a trigger on both
  dialects (seed 004's "circular dependency prevention"), walking the
  depends-on edges with a recursive CTE. The service still checks first, under
  a per-customer lock, and maps the database's refusal to the same
  ``ValidationError`` (``flightlog.db.failures.dependency_cycle``).
* Partial indexes on the queues the services read: pending tasks (the ready
  queue and claims), queued runs and pending approvals.
* The ``index_usage_stats`` view (seed 004): per index, scans, size and a usage
  category (UNUSED, LOW_USAGE, MEDIUM_USAGE, HIGH_USAGE) on PostgreSQL; the
  same columns on SQLite, which counts nothing, with NULL counters and
  ``NOT TRACKED``.

``flightlog db check`` reports any of these triggers or views missing
(``flightlog.migrations.objects`` lists what head has). The downgrade removes
all of them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Every table with an ``updated_at`` column at this revision.
UPDATED_AT_TABLES = (
    "agents",
    "customers",
    "model_prices",
    "modifications",
    "optimizations",
    "project_contexts",
    "projects",
    "pull_request_checks",
    "pull_requests",
    "recommendations",
    "sessions",
    "task_runs",
    "tasks",
    "templates",
)

#: (name, table, columns, predicate) of the partial indexes.
PARTIAL_INDEXES = (
    ("ix_tasks_pending", "tasks", ["customer_id", "priority DESC", "id"], "status = 'PENDING'"),
    ("ix_task_runs_queued", "task_runs", ["task_id", "run_number"], "status = 'PENDING'"),
    ("ix_approvals_pending", "approvals", ["customer_id", "created_at"], "status = 'PENDING'"),
)

#: What ``utcnow()`` renders on SQLite: the ORM and the trigger write the same text.
SQLITE_NOW = "strftime('%Y-%m-%d %H:%M:%f000', 'now')"

CYCLE_MESSAGE = "ck_task_dependencies_no_cycle: this dependency would create a cycle"

PG_TOUCH_FUNCTION = """
CREATE FUNCTION flightlog_touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$
"""

PG_CYCLE_FUNCTION = f"""
CREATE FUNCTION flightlog_refuse_dependency_cycle() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (
        WITH RECURSIVE reachable(node) AS (
            SELECT NEW.depends_on_id
            UNION
            SELECT d.depends_on_id
            FROM task_dependencies AS d JOIN reachable AS r ON d.task_id = r.node
        )
        SELECT 1 FROM reachable WHERE node = NEW.task_id
    ) THEN
        RAISE EXCEPTION '{CYCLE_MESSAGE}'
            USING ERRCODE = 'check_violation',
                  CONSTRAINT = 'ck_task_dependencies_no_cycle',
                  DETAIL = format('task %s -> depends on %s', NEW.task_id, NEW.depends_on_id);
    END IF;
    RETURN NEW;
END
$$
"""

SQLITE_CYCLE_CONDITION = """
EXISTS (
    WITH RECURSIVE reachable(node) AS (
        SELECT NEW.depends_on_id
        UNION
        SELECT d.depends_on_id
        FROM task_dependencies AS d JOIN reachable AS r ON d.task_id = r.node
    )
    SELECT 1 FROM reachable WHERE node = NEW.task_id
)
"""

PG_INDEX_USAGE_STATS = """
CREATE VIEW index_usage_stats AS
SELECT
    s.schemaname::text AS schemaname,
    s.relname::text AS tablename,
    s.indexrelname::text AS indexname,
    s.idx_scan AS index_scans,
    s.idx_tup_read AS tuples_read,
    s.idx_tup_fetch AS tuples_fetched,
    pg_relation_size(s.indexrelid) AS index_size_bytes,
    pg_size_pretty(pg_relation_size(s.indexrelid)) AS index_size,
    CASE
        WHEN s.idx_scan = 0 THEN 'UNUSED'
        WHEN s.idx_scan < 100 THEN 'LOW_USAGE'
        WHEN s.idx_scan < 1000 THEN 'MEDIUM_USAGE'
        ELSE 'HIGH_USAGE'
    END AS usage_category
FROM pg_stat_user_indexes AS s
WHERE s.schemaname = current_schema()
"""

SQLITE_INDEX_USAGE_STATS = """
CREATE VIEW index_usage_stats AS
SELECT
    'main' AS schemaname,
    m.tbl_name AS tablename,
    m.name AS indexname,
    CAST(NULL AS INTEGER) AS index_scans,
    CAST(NULL AS INTEGER) AS tuples_read,
    CAST(NULL AS INTEGER) AS tuples_fetched,
    CAST(NULL AS INTEGER) AS index_size_bytes,
    CAST(NULL AS TEXT) AS index_size,
    'NOT TRACKED' AS usage_category
FROM sqlite_master AS m
WHERE m.type = 'index'
"""


def _upgrade_postgresql() -> None:
    op.execute(PG_TOUCH_FUNCTION)
    for table in UPDATED_AT_TABLES:
        op.execute(
            f"CREATE TRIGGER trg_{table}_updated_at BEFORE UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION flightlog_touch_updated_at()"
        )
    op.execute(PG_CYCLE_FUNCTION)
    for event in ("insert", "update"):
        op.execute(
            f"CREATE TRIGGER trg_task_dependencies_no_cycle_{event} "
            f"BEFORE {event.upper()} ON task_dependencies "
            "FOR EACH ROW EXECUTE FUNCTION flightlog_refuse_dependency_cycle()"
        )
    op.execute(PG_INDEX_USAGE_STATS)


def _upgrade_sqlite() -> None:
    for table in UPDATED_AT_TABLES:
        op.execute(
            f"CREATE TRIGGER trg_{table}_updated_at AFTER UPDATE ON {table} FOR EACH ROW "
            "WHEN NEW.updated_at IS OLD.updated_at BEGIN "
            f"UPDATE {table} SET updated_at = {SQLITE_NOW} "
            f"WHERE id = NEW.id AND updated_at IS NOT {SQLITE_NOW}; END"
        )
    for event in ("insert", "update"):
        op.execute(
            f"CREATE TRIGGER trg_task_dependencies_no_cycle_{event} "
            f"BEFORE {event.upper()} ON task_dependencies FOR EACH ROW "
            f"WHEN {SQLITE_CYCLE_CONDITION} BEGIN "
            f"SELECT RAISE(ABORT, '{CYCLE_MESSAGE}'); END"
        )
    op.execute(SQLITE_INDEX_USAGE_STATS)


def upgrade() -> None:
    for name, table, columns, predicate in PARTIAL_INDEXES:
        op.create_index(
            name,
            table,
            [text(column) if " " in column else column for column in columns],
            unique=False,
            postgresql_where=text(predicate),
            sqlite_where=text(predicate),
        )
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS index_usage_stats")
    postgres = op.get_bind().dialect.name == "postgresql"
    for event in ("update", "insert"):
        on_table = " ON task_dependencies" if postgres else ""
        op.execute(f"DROP TRIGGER IF EXISTS trg_task_dependencies_no_cycle_{event}{on_table}")
    for table in reversed(UPDATED_AT_TABLES):
        op.execute(
            f"DROP TRIGGER IF EXISTS trg_{table}_updated_at{f' ON {table}' if postgres else ''}"
        )
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS flightlog_refuse_dependency_cycle()")
        op.execute("DROP FUNCTION IF EXISTS flightlog_touch_updated_at()")
    for name, table, _columns, _predicate in reversed(PARTIAL_INDEXES):
        op.drop_index(name, table_name=table)

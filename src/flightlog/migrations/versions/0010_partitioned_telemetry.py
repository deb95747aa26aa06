"""Partition ``events`` and ``metric_points`` by month on PostgreSQL (issue 16, decision 0016).

On PostgreSQL each table is rebuilt as a declarative RANGE-partitioned table,
``events`` on ``created_at`` and ``metric_points`` on ``recorded_at``, with one
partition per UTC month that holds rows, the current month and the next two
(names and the two edge partitions: :mod:`flightlog.db.partition_layout`). The
conversion keeps every row with its id, every index (by its definition), every
foreign key but one, the CHECK constraints, the privileges others were
granted on the table, and the identity sequence's exact position, so new ids continue where they did. The primary key becomes
(id, time): PostgreSQL requires the partition key in every unique constraint;
ids stay unique because only the identity hands them out.

The self-reference ``events.parent_event_id`` cannot stay a foreign key
(it would have to reference a unique key that includes ``created_at``). Two
triggers keep what it did: ``trg_events_parent_exists`` refuses a parent that
does not exist (SQLSTATE 23503, under the foreign key's name) and locks it
against a concurrent delete, as the foreign key did; ``trg_events_parent_deleted``
sets the children's reference to NULL when parents are deleted (ON DELETE SET
NULL). ``flightlog purge`` does the same before it drops a partition.

``index_usage_stats`` (0009) reads ``pg_stat_user_indexes``, which knows only
the partitions' own indexes; on PostgreSQL it is redefined to show each index
of a partitioned table under its own name, with the scans and sizes of its
partitions' indexes summed, and to leave the partitions' indexes out.

The downgrade rebuilds plain tables the same way, the foreign key included.
Both directions copy the rows, so they take time in proportion to the table;
they run in the migration's one transaction, all or nothing. SQLite keeps
plain tables: nothing happens there.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from alembic import op
from sqlalchemy import Connection, text

from flightlog.errors import MigrationError

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The tables and their partition keys, at this revision.
TABLES = (("events", "created_at"), ("metric_points", "recorded_at"))
PARENT_FK = "fk_events_parent_event_id_events"
PARENT_FK_SQL = "FOREIGN KEY (parent_event_id) REFERENCES events (id) ON DELETE SET NULL"
#: Months made beyond the current one (flightlog.db.partition_layout.AHEAD_MONTHS then).
AHEAD_MONTHS = 2
#: The edge partitions' slots: everything before 2000-01, everything from 2100-01.
FLOOR_SLOT, CEILING_SLOT = 2000 * 12 - 1, 2100 * 12
LIKE = (
    "INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY "
    "INCLUDING STORAGE INCLUDING COMMENTS"
)

PARENT_EXISTS_FUNCTION = f"""
CREATE FUNCTION flightlog_events_parent_exists() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM events WHERE id = NEW.parent_event_id FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION
            'insert or update on table "events" violates foreign key constraint "{PARENT_FK}"'
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = '{PARENT_FK}',
                  TABLE = 'events',
                  DETAIL = format('Key (parent_event_id)=(%s) is not present in table "events".',
                                  NEW.parent_event_id);
    END IF;
    RETURN NULL;
END
$$
"""

#: One UPDATE per DELETE statement, over the children whose parent id lies in the deleted
#: ids' range (an index range scan on ix_events_parent_event_id per partition), not a
#: join with every event: a purge deletes thousands of rows per statement.
PARENT_DELETED_FUNCTION = """
CREATE FUNCTION flightlog_events_parent_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    low bigint;
    high bigint;
BEGIN
    SELECT min(id), max(id) INTO low, high FROM gone;
    IF low IS NULL THEN
        RETURN NULL;
    END IF;
    UPDATE events AS child SET parent_event_id = NULL
    WHERE child.parent_event_id BETWEEN low AND high
      AND child.parent_event_id IN (SELECT id FROM gone);
    RETURN NULL;
END
$$
"""


USAGE_CATEGORY = """
    CASE
        WHEN u.index_scans = 0 THEN 'UNUSED'
        WHEN u.index_scans < 100 THEN 'LOW_USAGE'
        WHEN u.index_scans < 1000 THEN 'MEDIUM_USAGE'
        ELSE 'HIGH_USAGE'
    END"""

PG_INDEX_USAGE_STATS = f"""
CREATE VIEW index_usage_stats AS
WITH plain AS (
    SELECT s.schemaname::text AS schemaname, s.relname::text AS tablename,
           s.indexrelname::text AS indexname, s.idx_scan AS index_scans,
           s.idx_tup_read AS tuples_read, s.idx_tup_fetch AS tuples_fetched,
           pg_relation_size(s.indexrelid) AS index_size_bytes
    FROM pg_stat_user_indexes AS s JOIN pg_class AS t ON t.oid = s.relid
    WHERE s.schemaname = current_schema() AND NOT t.relispartition
), partitioned AS (
    SELECT n.nspname::text, t.relname::text, i.relname::text,
           coalesce(sum(s.idx_scan), 0)::bigint, coalesce(sum(s.idx_tup_read), 0)::bigint,
           coalesce(sum(s.idx_tup_fetch), 0)::bigint,
           coalesce(sum(pg_relation_size(s.indexrelid)), 0)::bigint
    FROM pg_class AS i
    JOIN pg_namespace AS n ON n.oid = i.relnamespace
    JOIN pg_index AS x ON x.indexrelid = i.oid
    JOIN pg_class AS t ON t.oid = x.indrelid
    LEFT JOIN pg_partition_tree(i.oid) AS leaf ON leaf.isleaf
    LEFT JOIN pg_stat_user_indexes AS s ON s.indexrelid = leaf.relid
    WHERE i.relkind = 'I' AND n.nspname = current_schema()
    GROUP BY n.nspname, t.relname, i.relname
)
SELECT u.schemaname, u.tablename, u.indexname, u.index_scans, u.tuples_read,
       u.tuples_fetched, u.index_size_bytes, pg_size_pretty(u.index_size_bytes) AS index_size,
       {USAGE_CATEGORY} AS usage_category
FROM (SELECT * FROM plain UNION ALL SELECT * FROM partitioned) AS u
"""

#: The view as migration 0009 made it, for the downgrade.
PG_INDEX_USAGE_STATS_0009 = f"""
CREATE VIEW index_usage_stats AS
SELECT u.schemaname, u.tablename, u.indexname, u.index_scans, u.tuples_read,
       u.tuples_fetched, u.index_size_bytes, pg_size_pretty(u.index_size_bytes) AS index_size,
       {USAGE_CATEGORY} AS usage_category
FROM (
    SELECT s.schemaname::text AS schemaname, s.relname::text AS tablename,
           s.indexrelname::text AS indexname, s.idx_scan AS index_scans,
           s.idx_tup_read AS tuples_read, s.idx_tup_fetch AS tuples_fetched,
           pg_relation_size(s.indexrelid) AS index_size_bytes
    FROM pg_stat_user_indexes AS s
    WHERE s.schemaname = current_schema()
) AS u
"""


def _slot_sql(slot: int) -> tuple[str, str]:
    """(partition suffix, FOR VALUES clause) of a slot (month index year * 12 + month - 1)."""

    def start(index: int) -> str:
        return f"'{datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC).isoformat()}'"

    if slot == FLOOR_SLOT:
        return "before_2000", f"FOR VALUES FROM (MINVALUE) TO ({start(FLOOR_SLOT + 1)})"
    if slot == CEILING_SLOT:
        return "from_2100", f"FOR VALUES FROM ({start(CEILING_SLOT)}) TO (MAXVALUE)"
    suffix = f"p{slot // 12:04d}_{slot % 12 + 1:02d}"
    return suffix, f"FOR VALUES FROM ({start(slot)}) TO ({start(slot + 1)})"


def _slots_in_use(bind: Connection, table: str, key: str) -> set[int]:
    """The months ``table`` holds rows of, clamped to the edge partitions, plus the window."""
    month = f"(extract(year FROM {key} AT TIME ZONE 'UTC') * 12 + extract(month FROM {key} AT TIME ZONE 'UTC') - 1)::int"
    rows = bind.execute(text(f"SELECT DISTINCT {month} FROM {table}")).scalars()
    now = datetime.now(UTC)
    current = now.year * 12 + now.month - 1
    slots = {int(slot) for slot in rows} | {current + step for step in range(AHEAD_MONTHS + 1)}
    return {min(max(slot, FLOOR_SLOT), CEILING_SLOT) for slot in slots}


def _definitions(
    bind: Connection, table: str
) -> tuple[str, list[tuple[str, str]], list[tuple[str, str]]]:
    """(primary key name, [(index, CREATE INDEX)], [(foreign key, definition)]) of ``table``."""
    pk = bind.scalar(
        text(
            "SELECT conname FROM pg_constraint "
            "WHERE conrelid = CAST(:t AS regclass) AND contype = 'p'"
        ),
        {"t": table},
    )
    indexes = bind.execute(
        text(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index AS i "
            "JOIN pg_class AS c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = CAST(:t AS regclass) AND NOT i.indisprimary ORDER BY c.relname"
        ),
        {"t": table},
    ).all()
    foreign_keys = bind.execute(
        text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = CAST(:t AS regclass) AND contype = 'f' AND conparentid = 0 "
            "ORDER BY conname"
        ),
        {"t": table},
    ).all()
    return (
        str(pk),
        [(str(name), str(sql).replace(" ON ONLY ", " ON ")) for name, sql in indexes],
        [(str(name), str(sql)) for name, sql in foreign_keys],
    )


def _refuse_dependent_views(bind: Connection, table: str) -> None:
    views = bind.execute(
        text(
            "SELECT DISTINCT v.relname FROM pg_depend AS d "
            "JOIN pg_rewrite AS r ON r.oid = d.objid JOIN pg_class AS v ON v.oid = r.ev_class "
            "WHERE d.refobjid = CAST(:t AS regclass) AND v.oid <> CAST(:t AS regclass)"
        ),
        {"t": table},
    ).scalars()
    found = sorted(str(view) for view in views)
    if found:
        raise MigrationError(
            f"Views {', '.join(found)} depend on {table}, which this migration rebuilds: "
            "drop them, migrate, and create them again."
        )


def _grants(bind: Connection, table: str) -> list[str]:
    """The GRANTs others hold on ``table`` (a reporting role's SELECT, say), to give again."""
    rows = bind.execute(
        text(
            "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END, "
            "a.privilege_type, a.is_grantable "
            "FROM pg_class AS c, aclexplode(c.relacl) AS a "
            "LEFT JOIN pg_roles AS r ON r.oid = a.grantee "
            "WHERE c.oid = CAST(:t AS regclass) AND a.grantee <> c.relowner"
        ),
        {"t": table},
    ).all()
    return [
        f"GRANT {privilege} ON {table} TO {grantee}{' WITH GRANT OPTION' if grantable else ''}"
        for grantee, privilege, grantable in rows
    ]


def _rebuild(bind: Connection, table: str, key: str, *, partitioned: bool) -> None:
    """Replace ``table`` by a copy of it, partitioned by month of ``key`` or plain."""
    _refuse_dependent_views(bind, table)
    pk, indexes, foreign_keys = _definitions(bind, table)
    sequence = bind.scalar(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table})
    last_value, is_called = bind.execute(
        text(f"SELECT last_value, is_called FROM {sequence}")
    ).one()
    slots = _slots_in_use(bind, table, key) if partitioned else set()
    grants = _grants(bind, table)
    old = f"{table}_before_0010" if partitioned else f"{table}_partitioned_0010"
    op.execute(f"ALTER TABLE {table} RENAME TO {old}")
    op.execute(f"ALTER TABLE {old} RENAME CONSTRAINT {pk} TO {pk}_old")
    for name, _ in indexes:
        op.execute(f"DROP INDEX {name}")
    op.execute(f"ALTER SEQUENCE {sequence} RENAME TO {old}_id_seq")
    partition_by = f" PARTITION BY RANGE ({key})" if partitioned else ""
    op.execute(f"CREATE TABLE {table} (LIKE {old} {LIKE}){partition_by}")
    for slot in sorted(slots):
        suffix, values = _slot_sql(slot)
        op.execute(f"CREATE TABLE {table}_{suffix} PARTITION OF {table} {values}")
    op.execute(f"INSERT INTO {table} SELECT * FROM {old}")
    primary_key = f"id, {key}" if partitioned else "id"
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {pk} PRIMARY KEY ({primary_key})")
    for _, create in indexes:
        op.execute(create)
    for name, definition in foreign_keys:
        if name != PARENT_FK:
            op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
    if table == "events" and not partitioned:
        # A parent gone without its children's reference cleared (a partition dropped by
        # hand) would fail the foreign key: clear it, as ON DELETE SET NULL would have.
        op.execute(
            "UPDATE events AS child SET parent_event_id = NULL WHERE parent_event_id IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM events AS p WHERE p.id = child.parent_event_id)"
        )
        op.execute(f"ALTER TABLE events ADD CONSTRAINT {PARENT_FK} {PARENT_FK_SQL}")
    new_sequence = bind.scalar(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table})
    op.execute(f"SELECT setval('{new_sequence}', {int(last_value)}, {bool(is_called)})")
    for grant in grants:
        op.execute(grant)
    op.execute(f"DROP TABLE {old}")


def _forget_partitions() -> None:
    """This process may have remembered the tables' old shape (flightlog.db.partitions)."""
    from flightlog.db.partitions import forget

    forget()


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table, key in TABLES:
        _rebuild(bind, table, key, partitioned=True)
    op.execute("DROP VIEW IF EXISTS index_usage_stats")
    op.execute(PG_INDEX_USAGE_STATS)
    op.execute(PARENT_EXISTS_FUNCTION)
    op.execute(
        "CREATE TRIGGER trg_events_parent_exists "
        "AFTER INSERT OR UPDATE OF parent_event_id ON events FOR EACH ROW "
        "WHEN (NEW.parent_event_id IS NOT NULL) "
        "EXECUTE FUNCTION flightlog_events_parent_exists()"
    )
    op.execute(PARENT_DELETED_FUNCTION)
    op.execute(
        "CREATE TRIGGER trg_events_parent_deleted AFTER DELETE ON events "
        "REFERENCING OLD TABLE AS gone FOR EACH STATEMENT "
        "EXECUTE FUNCTION flightlog_events_parent_deleted()"
    )
    _forget_partitions()


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS trg_events_parent_deleted ON events")
    op.execute("DROP TRIGGER IF EXISTS trg_events_parent_exists ON events")
    op.execute("DROP FUNCTION IF EXISTS flightlog_events_parent_deleted()")
    op.execute("DROP FUNCTION IF EXISTS flightlog_events_parent_exists()")
    op.execute("DROP VIEW IF EXISTS index_usage_stats")
    op.execute(PG_INDEX_USAGE_STATS_0009)
    for table, key in TABLES:
        _rebuild(bind, table, key, partitioned=False)
    _forget_partitions()

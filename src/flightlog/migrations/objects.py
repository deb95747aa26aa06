"""The schema objects Alembic's comparison does not see: views and triggers.

``flightlog db check`` compares tables, columns, indexes and constraints with
the models through Alembic; views and triggers are not in the models, so this
module lists what the head revision creates and reports what a live database
lacks. A missing ``updated_at`` trigger, say, would let rows changed by raw SQL
keep a stale time without anything else noticing. On PostgreSQL a trigger that
is there but disabled (``ALTER TABLE ... DISABLE TRIGGER``) is reported too.

On PostgreSQL ``events`` and ``metric_points`` must be partitioned by their
time column (migration 0010), and ``events`` must have the two triggers that
keep its parent event reference in place of a foreign key; a plain table
there, or a missing trigger, is drift.

Only Flightlog's own names are looked for: a team's views and triggers in the
same database are not drift. So are indexes SQLite reflects incompletely
(see :data:`~flightlog.migrations.filters.SQLITE_NAME_ONLY_INDEXES`): there
they are looked for by name.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, MetaData, inspect, text

from flightlog.db.partition_layout import PARTITION_KEYS
from flightlog.migrations.filters import SQLITE_NAME_ONLY_FKS, SQLITE_NAME_ONLY_INDEXES

#: The views migrations create (0003, 0009), on both dialects.
VIEWS = ("active_tasks", "task_execution_summary", "pr_validation_status", "index_usage_stats")

#: The triggers that refuse a dependency edge closing a cycle (0009), on both dialects.
DEPENDENCY_CYCLE_TRIGGERS = (
    "trg_task_dependencies_no_cycle_insert",
    "trg_task_dependencies_no_cycle_update",
)

#: The triggers that keep the parent event reference on PostgreSQL (0010).
POSTGRES_EVENT_PARENT_TRIGGERS = ("trg_events_parent_exists", "trg_events_parent_deleted")

#: The triggers that keep SQLite's FTS5 search table in step with ``tasks`` (0002).
SQLITE_FTS_TRIGGERS = ("tasks_fts_after_insert", "tasks_fts_after_update", "tasks_fts_after_delete")


def updated_at_trigger(table: str) -> str:
    """The name of the trigger that maintains ``table.updated_at``."""
    return f"trg_{table}_updated_at"


def updated_at_tables(metadata: MetaData) -> list[str]:
    """Every model table with an ``updated_at`` column: each needs its trigger."""
    return sorted(name for name, table in metadata.tables.items() if "updated_at" in table.c)


def expected_triggers(metadata: MetaData, dialect: str) -> dict[str, str]:
    """Trigger name -> the table it belongs to, as the head revision leaves them."""
    expected = {updated_at_trigger(t): t for t in updated_at_tables(metadata)}
    expected.update(dict.fromkeys(DEPENDENCY_CYCLE_TRIGGERS, "task_dependencies"))
    if dialect == "sqlite":
        expected.update(dict.fromkeys(SQLITE_FTS_TRIGGERS, "tasks"))
    else:
        expected.update(dict.fromkeys(POSTGRES_EVENT_PARENT_TRIGGERS, "events"))
    return expected


def unpartitioned_tables(connection: Connection) -> list[str]:
    """On PostgreSQL, each telemetry table that is not RANGE-partitioned by its time column."""
    if connection.dialect.name != "postgresql":
        return []
    rows = connection.execute(
        text(
            "SELECT c.relname, pg_get_partkeydef(c.oid) FROM pg_class AS c "
            "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relname = ANY(:tables)"
        ),
        {"tables": list(PARTITION_KEYS)},
    )
    found = {str(name): key for name, key in rows}
    return [
        f"{table} by RANGE ({key})"
        for table, key in PARTITION_KEYS.items()
        if table in found and found[table] != f"RANGE ({key})"
    ]


def live_triggers(connection: Connection) -> dict[str, bool]:
    """Trigger name -> whether it is enabled, for the database's current schema."""
    if connection.dialect.name == "sqlite":
        rows = connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
        return {str(row[0]): True for row in rows}
    rows = connection.execute(
        text(
            "SELECT t.tgname, t.tgenabled <> 'D' FROM pg_trigger AS t "
            "JOIN pg_class AS c ON c.oid = t.tgrelid "
            "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
            "WHERE NOT t.tgisinternal AND n.nspname = current_schema()"
        )
    )
    return {str(row[0]): bool(row[1]) for row in rows}


def missing_objects(
    connection: Connection, metadata: MetaData, *, skip: Callable[[str], bool]
) -> list[tuple[str, str]]:
    """(operation, detail) for each Flightlog view or trigger absent or disabled here.

    ``skip`` answers True for names the caller excluded from the comparison.
    """
    found_views = set(inspect(connection).get_view_names())
    problems = [("add_view", view) for view in VIEWS if view not in found_views and not skip(view)]
    if connection.dialect.name == "sqlite":
        indexes = {
            str(row[0])
            for row in connection.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'index'")
            )
        }
        for index in sorted(SQLITE_NAME_ONLY_INDEXES - indexes):
            if not skip(index):
                problems.append(("add_index", index))
        inspector = inspect(connection)
        for name, table in sorted(SQLITE_NAME_ONLY_FKS.items()):
            keys = {key["name"] for key in inspector.get_foreign_keys(table)}
            if name not in keys and not skip(name):
                problems.append(("add_fk", f"{table}.{name}"))
    for table in unpartitioned_tables(connection):
        if not skip(table.split()[0]):
            problems.append(("partition_table", table))
    live = live_triggers(connection)
    for trigger, table in sorted(expected_triggers(metadata, connection.dialect.name).items()):
        if skip(trigger) or skip(table):
            continue
        if trigger not in live:
            problems.append(("add_trigger", f"{table}.{trigger}"))
        elif not live[trigger]:
            problems.append(("enable_trigger", f"{table}.{trigger}"))
    return problems

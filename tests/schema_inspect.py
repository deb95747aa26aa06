"""Read back what a live database holds: tables, views, indexes, constraints, triggers."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine, inspect, text


@dataclass
class SchemaShape:
    tables: set[str] = field(default_factory=set)
    views: set[str] = field(default_factory=set)
    columns: set[tuple[str, str]] = field(default_factory=set)
    indexes: set[tuple[str, str]] = field(default_factory=set)
    uniques: set[tuple[str, str]] = field(default_factory=set)
    checks: set[tuple[str, str]] = field(default_factory=set)
    foreign_keys: set[tuple[str, str, str]] = field(default_factory=set)
    triggers: set[str] = field(default_factory=set)


#: Objects that are not Flightlog's: Alembic's bookkeeping and SQLite internals.
NOT_OURS = {"alembic_version", "sqlite_sequence"}


def partitions(engine: Engine) -> set[str]:
    """PostgreSQL's partitions (of events and metric_points): parts of a table, not tables."""
    if engine.dialect.name != "postgresql":
        return set()
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT relname FROM pg_class WHERE relispartition "
                "AND relnamespace = current_schema()::regnamespace"
            )
        )
        return {str(row[0]) for row in rows}


def shape(engine: Engine) -> SchemaShape:
    inspector = inspect(engine)
    result = SchemaShape()
    result.tables = set(inspector.get_table_names()) - NOT_OURS - partitions(engine)
    result.views = set(inspector.get_view_names())
    for table in result.tables:
        for column in inspector.get_columns(table):
            result.columns.add((table, column["name"]))
        for index in inspector.get_indexes(table):
            if index.get("duplicates_constraint"):
                continue  # PostgreSQL lists the index behind each UNIQUE constraint too
            result.indexes.add((table, str(index["name"])))
        for unique in inspector.get_unique_constraints(table):
            result.uniques.add((table, str(unique["name"])))
        for check in inspector.get_check_constraints(table):
            result.checks.add((table, str(check["name"])))
        for fk in inspector.get_foreign_keys(table):
            ondelete = (fk.get("options") or {}).get("ondelete") or "NO ACTION"
            result.foreign_keys.add((table, str(fk["name"]), ondelete.upper()))
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = connection.execute(text("SELECT name FROM sqlite_master WHERE type='trigger'"))
        else:
            rows = connection.execute(
                text(
                    "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE NOT t.tgisinternal AND n.nspname = current_schema()"
                )
            )
        result.triggers = {row[0] for row in rows}
    return result

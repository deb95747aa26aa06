"""SQLite and PostgreSQL end up with the same schema, by name, apart from a listed few."""

from __future__ import annotations

from pathlib import Path

import pytest

from flightlog.db.engine import create_sync_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.migrations.filters import POSTGRES_TRIGGER_KEPT_FKS
from flightlog.migrations.objects import (
    DEPENDENCY_CYCLE_TRIGGERS,
    POSTGRES_EVENT_PARENT_TRIGGERS,
    updated_at_tables,
    updated_at_trigger,
)
from flightlog.migrations.runner import Migrator
from flightlog.models import Base
from flightlog.settings import Settings
from postgres_server import PostgresServer
from schema_inspect import SchemaShape, shape

#: PostgreSQL-only: GIN indexes on JSONB, the tsvector index for full-text search, and the
#: index a tenant's event stream is paged by under one generic plan (migration 0011).
POSTGRES_ONLY_INDEXES = {
    ("events", "ix_events_customer_id_id"),
    ("agents", "ix_agents_capabilities_gin"),
    ("templates", "ix_templates_tags_gin"),
    ("templates", "ix_templates_tech_stack_gin"),
    ("project_contexts", "ix_project_contexts_codebase_gin"),
    ("project_contexts", "ix_project_contexts_configuration_gin"),
    ("recommendations", "ix_recommendations_data_gin"),
    ("tasks", "ix_tasks_context_gin"),
    ("tasks", "ix_tasks_requirements_gin"),
    ("tasks", "ix_tasks_tags_gin"),
    ("tasks", "ix_tasks_search_gin"),
    ("modifications", "ix_modifications_impact_analysis_gin"),
}
#: SQLite-only: the FTS5 table (with its shadow tables) and the triggers that feed it.
SQLITE_ONLY_TABLE_PREFIX = "tasks_fts"
SQLITE_ONLY_TRIGGERS = {
    "tasks_fts_after_insert",
    "tasks_fts_after_update",
    "tasks_fts_after_delete",
}


def _without_sqlite_only(found: SchemaShape) -> SchemaShape:
    def keep(table: str) -> bool:
        return not table.startswith(SQLITE_ONLY_TABLE_PREFIX)

    return SchemaShape(
        tables={t for t in found.tables if keep(t)},
        views=found.views,
        columns={c for c in found.columns if keep(c[0])},
        indexes={i for i in found.indexes if keep(i[0])},
        uniques={u for u in found.uniques if keep(u[0])},
        checks={c for c in found.checks if keep(c[0])},
        foreign_keys={f for f in found.foreign_keys if keep(f[0])},
        triggers=found.triggers - SQLITE_ONLY_TRIGGERS,
    )


def test_both_dialects_have_the_same_schema_by_name(
    tmp_path: Path, postgres_server: PostgresServer | None, test_settings: Settings
) -> None:
    if postgres_server is None:
        pytest.skip("needs PostgreSQL: see the warning at the start of the run")
    sqlite_url = DatabaseUrl.parse(f"sqlite:///{tmp_path / 'parity.db'}")
    postgres_url = postgres_server.create_database("flightlog_parity")
    shapes = {}
    for url in (sqlite_url, postgres_url):
        Migrator(test_settings, url).upgrade("head")
        engine = create_sync_engine(test_settings, url=url)
        try:
            shapes[url.dialect] = shape(engine)
        finally:
            engine.dispose()
    postgres_server.drop_database(postgres_url)

    sqlite_shape = shapes["sqlite"]
    postgres_shape = shapes["postgresql"]
    assert {t for t in sqlite_shape.tables if t.startswith(SQLITE_ONLY_TABLE_PREFIX)}
    assert sqlite_shape.triggers >= SQLITE_ONLY_TRIGGERS
    assert postgres_shape.indexes >= POSTGRES_ONLY_INDEXES

    portable_sqlite = _without_sqlite_only(sqlite_shape)
    assert portable_sqlite.tables == postgres_shape.tables
    assert portable_sqlite.views == postgres_shape.views
    assert portable_sqlite.columns == postgres_shape.columns
    assert portable_sqlite.indexes == postgres_shape.indexes - POSTGRES_ONLY_INDEXES
    assert portable_sqlite.uniques == postgres_shape.uniques
    assert portable_sqlite.checks == postgres_shape.checks
    # A partitioned events table keeps its parent reference by triggers (migration 0010).
    kept_by_triggers = {
        fk for fk in portable_sqlite.foreign_keys if fk[1] in POSTGRES_TRIGGER_KEPT_FKS
    }
    assert kept_by_triggers == {("events", "fk_events_parent_event_id_events", "SET NULL")}
    assert portable_sqlite.foreign_keys - kept_by_triggers == postgres_shape.foreign_keys
    # Migration 0009's triggers (updated_at, dependency cycles) carry the same names on both.
    postgres_only_triggers = set(POSTGRES_EVENT_PARENT_TRIGGERS)
    assert portable_sqlite.triggers == postgres_shape.triggers - postgres_only_triggers
    assert postgres_shape.triggers == {
        *(updated_at_trigger(table) for table in updated_at_tables(Base.metadata)),
        *DEPENDENCY_CYCLE_TRIGGERS,
        *postgres_only_triggers,
    }
    assert len(postgres_shape.checks) > 40
    assert ("tasks", "fk_tasks_assigned_agent_id_agents", "SET NULL") in postgres_shape.foreign_keys
    assert ("task_runs", "fk_task_runs_task_id_tasks", "CASCADE") in postgres_shape.foreign_keys

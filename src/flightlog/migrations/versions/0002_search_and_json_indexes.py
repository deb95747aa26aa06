"""Full-text search over tasks and GIN indexes on queried JSON, per dialect.

PostgreSQL: a GIN index on the tasks' tsvector expression and GIN indexes on
the JSONB columns that are filtered by containment. SQLite: an FTS5 table kept
in step with ``tasks`` by triggers. FTS5 rows are keyed through
``tasks_fts_docs`` (an INTEGER PRIMARY KEY) rather than the tasks' implicit
rowid, because VACUUM may renumber implicit rowids and silently detach the
index from its rows.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 21:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (index name, table, column) for PostgreSQL GIN indexes on JSONB.
JSONB_GIN_INDEXES = (
    ("ix_agents_capabilities_gin", "agents", "capabilities"),
    ("ix_templates_tags_gin", "templates", "tags"),
    ("ix_templates_tech_stack_gin", "templates", "tech_stack"),
    ("ix_project_contexts_codebase_gin", "project_contexts", "codebase"),
    ("ix_project_contexts_configuration_gin", "project_contexts", "configuration"),
    ("ix_recommendations_data_gin", "recommendations", "data"),
    ("ix_tasks_context_gin", "tasks", "context"),
    ("ix_tasks_requirements_gin", "tasks", "requirements"),
    ("ix_tasks_tags_gin", "tasks", "tags"),
    ("ix_modifications_impact_analysis_gin", "modifications", "impact_analysis"),
)

TASK_SEARCH_VECTOR = (
    "to_tsvector('english', coalesce(title, '') || ' ' || coalesce(description, '') "
    "|| ' ' || coalesce(input_prompt, ''))"
)

SQLITE_FTS_UPGRADE = (
    """
    CREATE TABLE tasks_fts_docs (
        doc_id INTEGER PRIMARY KEY AUTOINCREMENT,
        task_id CHAR(32) NOT NULL UNIQUE
    )
    """,
    """
    CREATE VIRTUAL TABLE tasks_fts USING fts5(
        title, description, input_prompt, tokenize = 'porter unicode61'
    )
    """,
    """
    CREATE TRIGGER tasks_fts_after_insert AFTER INSERT ON tasks BEGIN
        INSERT INTO tasks_fts_docs (task_id) VALUES (new.id);
        INSERT INTO tasks_fts (rowid, title, description, input_prompt)
        VALUES ((SELECT doc_id FROM tasks_fts_docs WHERE task_id = new.id),
                new.title, new.description, new.input_prompt);
    END
    """,
    """
    CREATE TRIGGER tasks_fts_after_update AFTER UPDATE OF title, description, input_prompt
    ON tasks BEGIN
        UPDATE tasks_fts
        SET title = new.title, description = new.description, input_prompt = new.input_prompt
        WHERE rowid = (SELECT doc_id FROM tasks_fts_docs WHERE task_id = new.id);
    END
    """,
    """
    CREATE TRIGGER tasks_fts_after_delete AFTER DELETE ON tasks BEGIN
        DELETE FROM tasks_fts
        WHERE rowid = (SELECT doc_id FROM tasks_fts_docs WHERE task_id = old.id);
        DELETE FROM tasks_fts_docs WHERE task_id = old.id;
    END
    """,
    "INSERT INTO tasks_fts_docs (task_id) SELECT id FROM tasks",
    """
    INSERT INTO tasks_fts (rowid, title, description, input_prompt)
    SELECT d.doc_id, t.title, t.description, t.input_prompt
    FROM tasks AS t JOIN tasks_fts_docs AS d ON d.task_id = t.id
    """,
)

SQLITE_FTS_DOWNGRADE = (
    "DROP TRIGGER IF EXISTS tasks_fts_after_delete",
    "DROP TRIGGER IF EXISTS tasks_fts_after_update",
    "DROP TRIGGER IF EXISTS tasks_fts_after_insert",
    "DROP TABLE IF EXISTS tasks_fts",
    "DROP TABLE IF EXISTS tasks_fts_docs",
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, table, column in JSONB_GIN_INDEXES:
            op.create_index(name, table, [column], postgresql_using="gin")
        op.execute(f"CREATE INDEX ix_tasks_search_gin ON tasks USING gin ({TASK_SEARCH_VECTOR})")
    else:
        for statement in SQLITE_FTS_UPGRADE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_tasks_search_gin", table_name="tasks")
        for name, table, _column in reversed(JSONB_GIN_INDEXES):
            op.drop_index(name, table_name=table)
    else:
        for statement in SQLITE_FTS_DOWNGRADE:
            op.execute(statement)

"""Core schema: every Flightlog table with its keys, checks and portable indexes.

PostgreSQL-only GIN indexes and SQLite-only FTS5 objects come in 0002; views in 0003.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 21:21:57.395361
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import flightlog.db.types
from flightlog.db.types import utcnow

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "artifact_blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("storage_path", sa.String(length=500), nullable=True),
        sa.Column(
            "created_at",
            flightlog.db.types.UtcDateTime(timezone=True),
            server_default=utcnow(),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(content IS NULL) <> (storage_path IS NULL)",
            name=op.f("ck_artifact_blobs_inline_xor_stored"),
        ),
        sa.CheckConstraint("length(sha256) = 64", name=op.f("ck_artifact_blobs_sha256_length")),
        sa.CheckConstraint("size_bytes >= 0", name=op.f("ck_artifact_blobs_size_nonnegative")),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_artifact_blobs")),
    )
    op.create_table(
        "customers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column(
            "plan",
            sa.Enum(
                "FREE",
                "STARTUP",
                "ENTERPRISE",
                name="plan",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="FREE",
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "ACTIVE",
                "SUSPENDED",
                "CHURNED",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="ACTIVE",
            nullable=False,
        ),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            flightlog.db.types.UtcDateTime(timezone=True),
            server_default=utcnow(),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            flightlog.db.types.UtcDateTime(timezone=True),
            server_default=utcnow(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint("email", name=op.f("uq_customers_email")),
    )
    op.create_index(op.f("ix_customers_status"), "customers", ["status"], unique=False)
    op.create_table(
        "agents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column(
            "agent_type",
            sa.Enum(
                "ORCHESTRATOR",
                "COST",
                "PERFORMANCE",
                "RESOURCE",
                "APPLICATION",
                "TEAM_LEADER",
                "PRODUCT_MANAGER",
                "ARCHITECT",
                "PROJECT_MANAGER",
                "ENGINEER",
                "QA",
                "REVIEWER",
                "CUSTOM",
                name="agent_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("role", sa.String(length=100), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "STARTING",
                "HEALTHY",
                "DEGRADED",
                "FAILED",
                "STOPPED",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="STARTING",
            nullable=False,
        ),
        sa.Column("version", sa.String(length=64), nullable=True),
        sa.Column("endpoint", sa.String(length=500), nullable=True),
        sa.Column(
            "capabilities",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "config",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "last_heartbeat_at", flightlog.db.types.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "created_at",
            flightlog.db.types.UtcDateTime(timezone=True),
            server_default=utcnow(),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            flightlog.db.types.UtcDateTime(timezone=True),
            server_default=utcnow(),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_agents_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
        sa.UniqueConstraint("customer_id", "name", name=op.f("uq_agents_customer_id_name")),
    )
    op.create_index(op.f("ix_agents_agent_type"), "agents", ["agent_type"], unique=False)
    op.create_index(op.f("ix_agents_status"), "agents", ["status"], unique=False)
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column("key_hash", sa.String(length=128), nullable=False),
        sa.Column(
            "scopes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("last_used_at", flightlog.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", flightlog.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", flightlog.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            flightlog.db.types.UtcDateTime(timezone=True),
            server_default=utcnow(),
            nullable=False,
        ),
        sa.CheckConstraint("length(prefix) >= 6", name=op.f("ck_api_keys_prefix_length")),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_api_keys_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_index(op.f("ix_api_keys_customer_id"), "api_keys", ["customer_id"], unique=False)
    op.create_table(
        "projects",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("repository_url", sa.String(length=500), nullable=True),
        sa.Column("repository_name", sa.String(length=255), nullable=True),
        sa.Column("default_branch", sa.String(length=100), server_default="main", nullable=False),
        sa.Column(
            "settings",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("owner", sa.String(length=255), nullable=True),
        sa.Column(
            "created_at",
            flightlog.db.types.UtcDateTime(timezone=True),
            server_default=utcnow(),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            flightlog.db.types.UtcDateTime(timezone=True),
            server_default=utcnow(),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_projects_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        sa.UniqueConstraint("customer_id", "name", name=op.f("uq_projects_customer_id_name")),
    )
    op.create_table(
        "templates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "files",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "required_variables",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "optional_variables",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "tech_stack",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("complexity", sa.String(length=32), nullable=True),
        sa.Column("setup_time_minutes", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            flightlog.db.types.UtcDateTime(timezone=True),
            server_default=utcnow(),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            flightlog.db.types.UtcDateTime(timezone=True),
            server_default=utcnow(),
            nullable=False,
        ),
        sa.CheckConstraint(
            "setup_time_minutes IS NULL OR setup_time_minutes >= 0",
            name=op.f("ck_templates_setup_time_nonnegative"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_templates_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_templates")),
        sa.UniqueConstraint("customer_id", "name", name=op.f("uq_templates_customer_id_name")),
    )
    op.create_table(
        "project_contexts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("iteration", sa.Integer(), nullable=False),
        sa.Column(
            "codebase",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "configuration",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("test_coverage", sa.Float(), nullable=True),
        sa.Column("security_score", sa.Float(), nullable=True),
        sa.Column("performance_score", sa.Float(), nullable=True),
        sa.Column("owner_id", sa.String(length=255), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            flightlog.db.types.UtcDateTime(timezone=True),
            server_default=utcnow(),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            flightlog.db.types.UtcDateTime(timezone=True),
            server_default=utcnow(),
            nullable=False,
        ),
        sa.CheckConstraint("iteration >= 1", name=op.f("ck_project_contexts_iteration_positive")),
        sa.CheckConstraint(
            "performance_score IS NULL OR (performance_score >= 0 AND performance_score <= 100)",
            name=op.f("ck_project_contexts_performance_score_range"),
        ),
        sa.CheckConstraint(
            "security_score IS NULL OR (security_score >= 0 AND security_score <= 100)",
            name=op.f("ck_project_contexts_security_score_range"),
        ),
        sa.CheckConstraint(
            "test_coverage IS NULL OR (test_coverage >= 0 AND test_coverage <= 100)",
            name=op.f("ck_project_contexts_test_coverage_range"),
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_project_contexts_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_contexts")),
        sa.UniqueConstraint(
            "project_id", "iteration", name=op.f("uq_project_contexts_project_id_iteration")
        ),
    )
    op.create_index(
        op.f("ix_project_contexts_owner_id"), "project_contexts", ["owner_id"], unique=False
    )
    op.create_table(
        "recommendations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("project_id", sa.Uuid(), nullable=True),
        sa.Column("recommendation_type", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "priority",
            sa.Enum(
                "LOW",
                "MEDIUM",
                "HIGH",
                "CRITICAL",
                name="priority",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="MEDIUM",
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "PENDING",
                "APPROVED",
                "REJECTED",
                "EXECUTING",
                "COMPLETED",
                "FAILED",
                "ROLLED_BACK",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="PENDING",
            nullable=False,
        ),
        sa.Column("confidence_score", sa.Float(), nullable=False),
        sa.Column("estimated_savings", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            flightlog.db.types.UtcDateTime(timezone=True),
            server_default=utcnow(),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            flightlog.db.types.UtcDateTime(timezone=True),
            server_default=utcnow(),
            nullable=False,
        ),
        sa.CheckConstraint(
            "confidence_score >= 0 AND confidence_score <= 1",
            name=op.f("ck_recommendations_confidence_score_range"),
        ),
        sa.CheckConstraint(
            "estimated_savings IS NULL OR estimated_savings >= 0",
            name=op.f("ck_recommendations_estimated_savings_nonnegative"),
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_recommendations_agent_id_agents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_recommendations_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_recommendations_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recommendations")),
    )
    op.create_index(
        op.f("ix_recommendations_agent_id"), "recommendations", ["agent_id"], unique=False
    )
    op.create_index(
        "ix_recommendations_customer_status",
        "recommendations",
        ["customer_id", "status"],
        unique=False,
    )
    op.create_index(
        op.f("ix_recommendations_project_id"), "recommendations", ["project_id"], unique=False
    )
    op.create_index(
        op.f("ix_recommendations_recommendation_type"),
        "recommendations",
        ["recommendation_type"],
        unique=False,
    )
    op.create_table(
        "tasks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=True),
        sa.Column("parent_task_id", sa.Uuid(), nullable=True),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("input_prompt", sa.Text(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "PENDING",
                "RUNNING",
                "COMPLETED",
                "FAILED",
                "CANCELLED",
                "TIMEOUT",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="PENDING",
            nullable=False,
        ),
        sa.Column("priority", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "config",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "requirements",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "context",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("max_rounds", sa.Integer(), server_default="5", nullable=False),
        sa.Column("memory_size", sa.Integer(), server_default="50", nullable=False),
        sa.Column("assigned_agent_id", sa.Uuid(), nullable=True),
        sa.Column(
            "assigned_agent_type",
            sa.Enum(
                "ORCHESTRATOR",
                "COST",
                "PERFORMANCE",
                "RESOURCE",
                "APPLICATION",
                "TEAM_LEADER",
                "PRODUCT_MANAGER",
                "ARCHITECT",
                "PROJECT_MANAGER",
                "ENGINEER",
                "QA",
                "REVIEWER",
                "CUSTOM",
                name="assigned_agent_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("result_summary", sa.Text(), nullable=True),
        sa.Column("total_runs", sa.Integer(), server_default="0", nullable=False),
        sa.Column("successful_runs", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failed_runs", sa.Integer(), server_default="0", nullable=False),
        sa.Column("success_rate", sa.Float(), server_default="0", nullable=False),
        sa.Column("avg_duration_seconds", sa.Float(), nullable=True),
        sa.Column("last_run_at", flightlog.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=255), nullable=True),
        sa.Column("lease_expires_at", flightlog.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("started_at", flightlog.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("completed_at", flightlog.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            flightlog.db.types.UtcDateTime(timezone=True),
            server_default=utcnow(),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            flightlog.db.types.UtcDateTime(timezone=True),
            server_default=utcnow(),
            nullable=False,
        ),
        sa.CheckConstraint("max_rounds >= 1", name=op.f("ck_tasks_max_rounds_positive")),
        sa.CheckConstraint("memory_size >= 1", name=op.f("ck_tasks_memory_size_positive")),
        sa.CheckConstraint(
            "parent_task_id IS NULL OR parent_task_id <> id", name=op.f("ck_tasks_not_own_parent")
        ),
        sa.CheckConstraint(
            "success_rate >= 0 AND success_rate <= 100", name=op.f("ck_tasks_success_rate_range")
        ),
        sa.CheckConstraint(
            "total_runs >= 0 AND successful_runs >= 0 AND failed_runs >= 0 AND successful_runs + failed_runs <= total_runs",
            name=op.f("ck_tasks_run_counts_consistent"),
        ),
        sa.ForeignKeyConstraint(
            ["assigned_agent_id"],
            ["agents.id"],
            name=op.f("fk_tasks_assigned_agent_id_agents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_tasks_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_task_id"],
            ["tasks.id"],
            name=op.f("fk_tasks_parent_task_id_tasks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_tasks_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
    )
    op.create_index(
        op.f("ix_tasks_assigned_agent_id"), "tasks", ["assigned_agent_id"], unique=False
    )
    op.create_index(
        "ix_tasks_claimable", "tasks", ["status", "priority", "lease_expires_at"], unique=False
    )
    op.create_index(
        "ix_tasks_customer_status_created",
        "tasks",
        ["customer_id", "status", "created_at"],
        unique=False,
    )
    op.create_index(op.f("ix_tasks_parent_task_id"), "tasks", ["parent_task_id"], unique=False)
    op.create_index(op.f("ix_tasks_project_id"), "tasks", ["project_id"], unique=False)
    op.create_table(
        "approvals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("recommendation_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "PENDING",
                "APPROVED",
                "REJECTED",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="PENDING",
            nullable=False,
        ),
        sa.Column("decided_by", sa.String(length=255), nullable=True),
        sa.Column("decided_at", flightlog.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            flightlog.db.types.UtcDateTime(timezone=True),
            server_default=utcnow(),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_approvals_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recommendation_id"],
            ["recommendations.id"],
            name=op.f("fk_approvals_recommendation_id_recommendations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approvals")),
    )
    op.create_index(op.f("ix_approvals_customer_id"), "approvals", ["customer_id"], unique=False)
    op.create_index(
        op.f("ix_approvals_recommendation_id"), "approvals", ["recommendation_id"], unique=False
    )
    op.create_table(
        "modifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("project_context_id", sa.Uuid(), nullable=True),
        sa.Column("title", sa.String(length=500), nullable=True),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column(
            "impact_analysis",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "affected_files",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "PENDING",
                "APPROVED",
                "APPLIED",
                "FAILED",
                "REJECTED",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="PENDING",
            nullable=False,
        ),
        sa.Column("requested_by", sa.String(length=255), nullable=True),
        sa.Column("decided_by", sa.String(length=255), nullable=True),
        sa.Column("decided_at", flightlog.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("decision_comment", sa.Text(), nullable=True),
        sa.Column("applied_at", flightlog.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "result",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            flightlog.db.types.UtcDateTime(timezone=True),
            server_default=utcnow(),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            flightlog.db.types.UtcDateTime(timezone=True),
            server_default=utcnow(),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["project_context_id"],
            ["project_contexts.id"],
            name=op.f("fk_modifications_project_context_id_project_contexts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_modifications_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_modifications")),
    )
    op.create_index(
        op.f("ix_modifications_project_context_id"),
        "modifications",
        ["project_context_id"],
        unique=False,
    )
    op.create_index(
        "ix_modifications_project_status", "modifications", ["project_id", "status"], unique=False
    )
    op.create_table(
        "optimizations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("recommendation_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "QUEUED",
                "EXECUTING",
                "COMPLETED",
                "FAILED",
                "ROLLED_BACK",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="QUEUED",
            nullable=False,
        ),
        sa.Column("progress", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "result",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("actual_savings", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("started_at", flightlog.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("completed_at", flightlog.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("rolled_back_at", flightlog.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("rollback_reason", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            flightlog.db.types.UtcDateTime(timezone=True),
            server_default=utcnow(),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            flightlog.db.types.UtcDateTime(timezone=True),
            server_default=utcnow(),
            nullable=False,
        ),
        sa.CheckConstraint(
            "actual_savings IS NULL OR actual_savings >= 0",
            name=op.f("ck_optimizations_actual_savings_nonnegative"),
        ),
        sa.CheckConstraint(
            "progress >= 0 AND progress <= 100", name=op.f("ck_optimizations_progress_range")
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_optimizations_agent_id_agents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_optimizations_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recommendation_id"],
            ["recommendations.id"],
            name=op.f("fk_optimizations_recommendation_id_recommendations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_optimizations")),
    )
    op.create_index(op.f("ix_optimizations_agent_id"), "optimizations", ["agent_id"], unique=False)
    op.create_index(
        "ix_optimizations_customer_status", "optimizations", ["customer_id", "status"], unique=False
    )
    op.create_index(
        op.f("ix_optimizations_recommendation_id"),
        "optimizations",
        ["recommendation_id"],
        unique=False,
    )
    op.create_table(
        "task_dependencies",
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("depends_on_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            flightlog.db.types.UtcDateTime(timezone=True),
            server_default=utcnow(),
            nullable=False,
        ),
        sa.CheckConstraint("task_id <> depends_on_id", name=op.f("ck_task_dependencies_not_self")),
        sa.ForeignKeyConstraint(
            ["depends_on_id"],
            ["tasks.id"],
            name=op.f("fk_task_dependencies_depends_on_id_tasks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["tasks.id"],
            name=op.f("fk_task_dependencies_task_id_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("task_id", "depends_on_id", name=op.f("pk_task_dependencies")),
    )
    op.create_index(
        op.f("ix_task_dependencies_depends_on_id"),
        "task_dependencies",
        ["depends_on_id"],
        unique=False,
    )
    op.create_table(
        "task_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("run_number", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "PENDING",
                "WAITING_APPROVAL",
                "RUNNING",
                "COMPLETED",
                "FAILED",
                "CANCELLED",
                "TIMEOUT",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="PENDING",
            nullable=False,
        ),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column(
            "agent_type",
            sa.Enum(
                "ORCHESTRATOR",
                "COST",
                "PERFORMANCE",
                "RESOURCE",
                "APPLICATION",
                "TEAM_LEADER",
                "PRODUCT_MANAGER",
                "ARCHITECT",
                "PROJECT_MANAGER",
                "ENGINEER",
                "QA",
                "REVIEWER",
                "CUSTOM",
                name="agent_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column(
            "plan",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "plan_status",
            sa.Enum(
                "PENDING",
                "APPROVED",
                "REJECTED",
                name="plan_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("plan_decided_by", sa.String(length=255), nullable=True),
        sa.Column("plan_decided_at", flightlog.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("plan_comment", sa.Text(), nullable=True),
        sa.Column(
            "input_context",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "results",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column(
            "error_details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("started_at", flightlog.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("completed_at", flightlog.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("memory_usage_mb", sa.Integer(), nullable=True),
        sa.Column("cpu_time_ms", sa.Integer(), nullable=True),
        sa.Column("git_branch", sa.String(length=255), nullable=True),
        sa.Column("git_commit", sa.String(length=64), nullable=True),
        sa.Column("pr_url", sa.String(length=500), nullable=True),
        sa.Column("tokens_in", sa.Integer(), server_default="0", nullable=False),
        sa.Column("tokens_out", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "cost_usd", sa.Numeric(precision=14, scale=6), server_default="0", nullable=False
        ),
        sa.Column(
            "created_at",
            flightlog.db.types.UtcDateTime(timezone=True),
            server_default=utcnow(),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            flightlog.db.types.UtcDateTime(timezone=True),
            server_default=utcnow(),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(memory_usage_mb IS NULL OR memory_usage_mb >= 0) AND (cpu_time_ms IS NULL OR cpu_time_ms >= 0)",
            name=op.f("ck_task_runs_resources_nonnegative"),
        ),
        sa.CheckConstraint(
            "duration_seconds IS NULL OR duration_seconds >= 0",
            name=op.f("ck_task_runs_duration_nonnegative"),
        ),
        sa.CheckConstraint("run_number >= 1", name=op.f("ck_task_runs_run_number_positive")),
        sa.CheckConstraint(
            "tokens_in >= 0 AND tokens_out >= 0 AND cost_usd >= 0",
            name=op.f("ck_task_runs_usage_nonnegative"),
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_task_runs_agent_id_agents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_task_runs_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_runs")),
        sa.UniqueConstraint("task_id", "run_number", name=op.f("uq_task_runs_task_id_run_number")),
    )
    op.create_index(op.f("ix_task_runs_agent_id"), "task_runs", ["agent_id"], unique=False)
    op.create_index("ix_task_runs_status", "task_runs", ["status"], unique=False)
    op.create_index(
        "ix_task_runs_task_started", "task_runs", ["task_id", "started_at"], unique=False
    )
    op.create_table(
        "agent_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("agent_name", sa.String(length=100), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "STARTED",
                "RUNNING",
                "COMPLETED",
                "FAILED",
                "CANCELLED",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="STARTED",
            nullable=False,
        ),
        sa.Column(
            "started_at",
            flightlog.db.types.UtcDateTime(timezone=True),
            server_default=utcnow(),
            nullable=False,
        ),
        sa.Column("finished_at", flightlog.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("output_summary", sa.Text(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("tokens_in", sa.Integer(), server_default="0", nullable=False),
        sa.Column("tokens_out", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "cost_usd", sa.Numeric(precision=14, scale=6), server_default="0", nullable=False
        ),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "parent_id IS NULL OR parent_id <> id", name=op.f("ck_agent_runs_not_own_parent")
        ),
        sa.CheckConstraint(
            "tokens_in >= 0 AND tokens_out >= 0 AND cost_usd >= 0",
            name=op.f("ck_agent_runs_usage_nonnegative"),
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_agent_runs_agent_id_agents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["agent_runs.id"],
            name=op.f("fk_agent_runs_parent_id_agent_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["task_runs.id"],
            name=op.f("fk_agent_runs_run_id_task_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_agent_runs_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_runs")),
    )
    op.create_index(op.f("ix_agent_runs_agent_id"), "agent_runs", ["agent_id"], unique=False)
    op.create_index(op.f("ix_agent_runs_agent_name"), "agent_runs", ["agent_name"], unique=False)
    op.create_index(op.f("ix_agent_runs_parent_id"), "agent_runs", ["parent_id"], unique=False)
    op.create_index(
        "ix_agent_runs_run_started", "agent_runs", ["run_id", "started_at"], unique=False
    )
    op.create_index(op.f("ix_agent_runs_started_at"), "agent_runs", ["started_at"], unique=False)
    op.create_index(op.f("ix_agent_runs_status"), "agent_runs", ["status"], unique=False)
    op.create_index(
        "ix_agent_runs_task_started", "agent_runs", ["task_id", "started_at"], unique=False
    )
    op.create_table(
        "pull_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=True),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("pr_number", sa.Integer(), nullable=True),
        sa.Column("repository_url", sa.String(length=500), nullable=False),
        sa.Column("branch_name", sa.String(length=255), nullable=False),
        sa.Column("base_branch", sa.String(length=255), server_default="main", nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "DRAFT",
                "OPEN",
                "CHANGES_REQUESTED",
                "APPROVED",
                "MERGED",
                "CLOSED",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="DRAFT",
            nullable=False,
        ),
        sa.Column(
            "validation_results",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("author", sa.String(length=255), nullable=True),
        sa.Column("merged_at", flightlog.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", flightlog.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            flightlog.db.types.UtcDateTime(timezone=True),
            server_default=utcnow(),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            flightlog.db.types.UtcDateTime(timezone=True),
            server_default=utcnow(),
            nullable=False,
        ),
        sa.CheckConstraint(
            "pr_number IS NULL OR pr_number >= 1", name=op.f("ck_pull_requests_pr_number_positive")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_pull_requests_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["task_runs.id"],
            name=op.f("fk_pull_requests_run_id_task_runs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["tasks.id"],
            name=op.f("fk_pull_requests_task_id_tasks"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pull_requests")),
        sa.UniqueConstraint(
            "repository_url", "pr_number", name=op.f("uq_pull_requests_repository_url_pr_number")
        ),
    )
    op.create_index(
        "ix_pull_requests_project_status", "pull_requests", ["project_id", "status"], unique=False
    )
    op.create_index(op.f("ix_pull_requests_run_id"), "pull_requests", ["run_id"], unique=False)
    op.create_index(op.f("ix_pull_requests_task_id"), "pull_requests", ["task_id"], unique=False)
    op.create_table(
        "artifacts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("agent_run_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column(
            "artifact_type",
            sa.Enum(
                "DOCUMENT",
                "IMAGE",
                "REPORT",
                "LOG",
                "CODE",
                "DATA",
                "CONFIG",
                "OTHER",
                name="artifact_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="OTHER",
            nullable=False,
        ),
        sa.Column("file_path", sa.String(length=1000), nullable=True),
        sa.Column(
            "content_type",
            sa.String(length=255),
            server_default="application/octet-stream",
            nullable=False,
        ),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            flightlog.db.types.UtcDateTime(timezone=True),
            server_default=utcnow(),
            nullable=False,
        ),
        sa.CheckConstraint("size_bytes >= 0", name=op.f("ck_artifacts_size_nonnegative")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_artifacts_version_positive")),
        sa.ForeignKeyConstraint(
            ["agent_run_id"],
            ["agent_runs.id"],
            name=op.f("fk_artifacts_agent_run_id_agent_runs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["task_runs.id"],
            name=op.f("fk_artifacts_run_id_task_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sha256"],
            ["artifact_blobs.sha256"],
            name=op.f("fk_artifacts_sha256_artifact_blobs"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_artifacts_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_artifacts")),
        sa.UniqueConstraint(
            "task_id", "name", "version", name=op.f("uq_artifacts_task_id_name_version")
        ),
    )
    op.create_index(op.f("ix_artifacts_agent_run_id"), "artifacts", ["agent_run_id"], unique=False)
    op.create_index("ix_artifacts_run_id", "artifacts", ["run_id"], unique=False)
    op.create_index(op.f("ix_artifacts_sha256"), "artifacts", ["sha256"], unique=False)
    op.create_table(
        "events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(always=False),
            nullable=False,
        ),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("task_id", sa.Uuid(), nullable=True),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("agent_run_id", sa.Uuid(), nullable=True),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column(
            "parent_event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "event_type",
            sa.Enum(
                "LOG",
                "MESSAGE",
                "ERROR",
                "RESULT",
                "AGENT_START",
                "AGENT_COMPLETE",
                "SYSTEM",
                "STATUS_CHANGE",
                "APPROVAL",
                "AUDIT",
                name="event_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "severity",
            sa.Enum(
                "INFO",
                "WARNING",
                "ERROR",
                "CRITICAL",
                name="severity",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="INFO",
            nullable=False,
        ),
        sa.Column("agent_role", sa.String(length=100), nullable=True),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("entity_type", sa.String(length=64), nullable=True),
        sa.Column("entity_id", sa.String(length=64), nullable=True),
        sa.Column("actor", sa.String(length=255), nullable=True),
        sa.Column(
            "created_at",
            flightlog.db.types.UtcDateTime(timezone=True),
            server_default=utcnow(),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_events_agent_id_agents"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["agent_run_id"],
            ["agent_runs.id"],
            name=op.f("fk_events_agent_run_id_agent_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_events_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_event_id"],
            ["events.id"],
            name=op.f("fk_events_parent_event_id_events"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["task_runs.id"],
            name=op.f("fk_events_run_id_task_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_events_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_events_agent_id"), "events", ["agent_id"], unique=False)
    op.create_index(op.f("ix_events_agent_role"), "events", ["agent_role"], unique=False)
    op.create_index(op.f("ix_events_agent_run_id"), "events", ["agent_run_id"], unique=False)
    op.create_index(
        "ix_events_customer_created", "events", ["customer_id", "created_at"], unique=False
    )
    op.create_index("ix_events_entity", "events", ["entity_type", "entity_id"], unique=False)
    op.create_index("ix_events_created_at", "events", ["created_at"], unique=False)
    op.create_index(op.f("ix_events_event_type"), "events", ["event_type"], unique=False)
    op.create_index(op.f("ix_events_parent_event_id"), "events", ["parent_event_id"], unique=False)
    op.create_index("ix_events_run_id_id", "events", ["run_id", "id"], unique=False)
    op.create_index(op.f("ix_events_severity"), "events", ["severity"], unique=False)
    op.create_index("ix_events_task_created", "events", ["task_id", "created_at"], unique=False)
    op.create_index("ix_events_task_id_id", "events", ["task_id", "id"], unique=False)
    op.create_table(
        "metric_points",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(always=False),
            nullable=False,
        ),
        sa.Column("task_id", sa.Uuid(), nullable=True),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("agent_run_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column(
            "metric_type",
            sa.Enum(
                "COUNTER",
                "GAUGE",
                "HISTOGRAM",
                "TIMER",
                "SUMMARY",
                "RATE",
                name="metric_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="GAUGE",
            nullable=False,
        ),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=True),
        sa.Column(
            "labels",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "recorded_at",
            flightlog.db.types.UtcDateTime(timezone=True),
            server_default=utcnow(),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["agent_run_id"],
            ["agent_runs.id"],
            name=op.f("fk_metric_points_agent_run_id_agent_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["task_runs.id"],
            name=op.f("fk_metric_points_run_id_task_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["tasks.id"],
            name=op.f("fk_metric_points_task_id_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_points")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_metric_points_agent_run_id"), "metric_points", ["agent_run_id"], unique=False
    )
    op.create_index(
        "ix_metric_points_name_recorded", "metric_points", ["name", "recorded_at"], unique=False
    )
    op.create_index("ix_metric_points_recorded_at", "metric_points", ["recorded_at"], unique=False)
    op.create_index(
        "ix_metric_points_run_name_recorded",
        "metric_points",
        ["run_id", "name", "recorded_at"],
        unique=False,
    )
    op.create_index(
        "ix_metric_points_task_name_recorded",
        "metric_points",
        ["task_id", "name", "recorded_at"],
        unique=False,
    )
    op.create_table(
        "pull_request_checks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("pull_request_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "PENDING",
                "RUNNING",
                "PASSED",
                "FAILED",
                "SKIPPED",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="PENDING",
            nullable=False,
        ),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            flightlog.db.types.UtcDateTime(timezone=True),
            server_default=utcnow(),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            flightlog.db.types.UtcDateTime(timezone=True),
            server_default=utcnow(),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["pull_request_id"],
            ["pull_requests.id"],
            name=op.f("fk_pull_request_checks_pull_request_id_pull_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pull_request_checks")),
        sa.UniqueConstraint(
            "pull_request_id", "name", name=op.f("uq_pull_request_checks_pull_request_id_name")
        ),
    )


#: Creation order; downgrade drops in reverse so no foreign key is left dangling.
TABLES = (
    "artifact_blobs",
    "customers",
    "agents",
    "api_keys",
    "projects",
    "templates",
    "project_contexts",
    "recommendations",
    "tasks",
    "approvals",
    "modifications",
    "optimizations",
    "task_dependencies",
    "task_runs",
    "agent_runs",
    "pull_requests",
    "artifacts",
    "events",
    "metric_points",
    "pull_request_checks",
)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)

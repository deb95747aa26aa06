"""The three reporting views of seed 004, in SQL that both dialects accept.

``active_tasks``: tasks still to do or in progress, with their project and
how many of their dependencies are not yet completed.
``task_execution_summary``: per task, counts of runs by outcome, durations,
tokens and cost, computed from the runs themselves (not the cached columns).
``pr_validation_status``: per pull request, counts of checks by outcome and
one overall validation state.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 21:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE_TASKS = """
CREATE VIEW active_tasks AS
SELECT
    t.id AS task_id,
    t.customer_id,
    t.project_id,
    p.name AS project_name,
    t.parent_task_id,
    t.title,
    t.status,
    t.priority,
    t.assigned_agent_id,
    t.assigned_agent_type,
    t.claimed_by,
    t.lease_expires_at,
    t.total_runs,
    t.created_at,
    t.updated_at,
    (
        SELECT count(*)
        FROM task_dependencies AS d
        JOIN tasks AS dep ON dep.id = d.depends_on_id
        WHERE d.task_id = t.id AND dep.status <> 'COMPLETED'
    ) AS open_dependencies
FROM tasks AS t
LEFT JOIN projects AS p ON p.id = t.project_id
WHERE t.status IN ('PENDING', 'RUNNING')
"""

TASK_EXECUTION_SUMMARY = """
CREATE VIEW task_execution_summary AS
SELECT
    t.id AS task_id,
    t.customer_id,
    t.project_id,
    t.title,
    t.status,
    count(r.id) AS total_executions,
    coalesce(sum(CASE WHEN r.status = 'COMPLETED' THEN 1 ELSE 0 END), 0) AS successful_executions,
    coalesce(sum(CASE WHEN r.status IN ('FAILED', 'TIMEOUT') THEN 1 ELSE 0 END), 0)
        AS failed_executions,
    coalesce(sum(CASE WHEN r.status = 'CANCELLED' THEN 1 ELSE 0 END), 0) AS cancelled_executions,
    coalesce(
        sum(CASE WHEN r.status IN ('PENDING', 'WAITING_APPROVAL', 'RUNNING') THEN 1 ELSE 0 END), 0
    ) AS active_executions,
    avg(r.duration_seconds) AS avg_duration_seconds,
    max(r.duration_seconds) AS max_duration_seconds,
    max(r.started_at) AS last_started_at,
    max(r.completed_at) AS last_completed_at,
    coalesce(sum(r.tokens_in), 0) AS tokens_in,
    coalesce(sum(r.tokens_out), 0) AS tokens_out,
    coalesce(sum(r.cost_usd), 0) AS cost_usd
FROM tasks AS t
LEFT JOIN task_runs AS r ON r.task_id = t.id
GROUP BY t.id, t.customer_id, t.project_id, t.title, t.status
"""

PR_VALIDATION_STATUS = """
CREATE VIEW pr_validation_status AS
SELECT
    pr.id AS pull_request_id,
    pr.project_id,
    pr.task_id,
    pr.pr_number,
    pr.repository_url,
    pr.branch_name,
    pr.title,
    pr.status,
    count(c.id) AS total_checks,
    coalesce(sum(CASE WHEN c.status = 'PASSED' THEN 1 ELSE 0 END), 0) AS passed_checks,
    coalesce(sum(CASE WHEN c.status = 'FAILED' THEN 1 ELSE 0 END), 0) AS failed_checks,
    coalesce(sum(CASE WHEN c.status IN ('PENDING', 'RUNNING') THEN 1 ELSE 0 END), 0)
        AS pending_checks,
    coalesce(sum(CASE WHEN c.status = 'SKIPPED' THEN 1 ELSE 0 END), 0) AS skipped_checks,
    CASE
        WHEN count(c.id) = 0 THEN 'NOT_RUN'
        WHEN sum(CASE WHEN c.status = 'FAILED' THEN 1 ELSE 0 END) > 0 THEN 'FAILED'
        WHEN sum(CASE WHEN c.status IN ('PENDING', 'RUNNING') THEN 1 ELSE 0 END) > 0
            THEN 'PENDING'
        ELSE 'PASSED'
    END AS validation_state,
    max(c.updated_at) AS last_checked_at
FROM pull_requests AS pr
LEFT JOIN pull_request_checks AS c ON c.pull_request_id = pr.id
GROUP BY pr.id, pr.project_id, pr.task_id, pr.pr_number, pr.repository_url,
         pr.branch_name, pr.title, pr.status
"""

VIEWS = (
    ("active_tasks", ACTIVE_TASKS),
    ("task_execution_summary", TASK_EXECUTION_SUMMARY),
    ("pr_validation_status", PR_VALIDATION_STATUS),
)


def upgrade() -> None:
    for _name, ddl in VIEWS:
        op.execute(ddl)


def downgrade() -> None:
    for name, _ddl in reversed(VIEWS):
        op.execute(f"DROP VIEW IF EXISTS {name}")

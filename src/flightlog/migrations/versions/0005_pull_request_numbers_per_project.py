"""Pull request numbers are unique per project, not across every customer.

With the constraint on (repository_url, pr_number) alone, a second customer
tracking the same repository could not record the same pull request, and
the conflict told it that someone else had. Scoping the constraint to the
project keeps tenants apart.

SQLite rebuilds the table (batch mode). The rename that ends the rebuild
would otherwise re-check the ``pr_validation_status`` view while the table is
briefly absent and fail; ``legacy_alter_table`` skips that check, and the
view is valid again once the table has its name back.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 23:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = ("uq_pull_requests_repository_url_pr_number", ["repository_url", "pr_number"])
NEW = (
    "uq_pull_requests_project_id_repository_url_pr_number",
    ["project_id", "repository_url", "pr_number"],
)


def _swap(drop: tuple[str, list[str]], create: tuple[str, list[str]]) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA legacy_alter_table=ON")
    with op.batch_alter_table("pull_requests") as batch:
        batch.drop_constraint(drop[0], type_="unique")
        batch.create_unique_constraint(create[0], create[1])
    if sqlite:
        op.execute("PRAGMA legacy_alter_table=OFF")


def upgrade() -> None:
    _swap(OLD, NEW)


def downgrade() -> None:
    _swap(NEW, OLD)

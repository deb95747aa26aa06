"""One-time local sign-in links for the dashboard (issue 14, item 1).

``local_sign_ins`` holds the links ``flightlog serve`` and ``flightlog demo
--serve`` print: the SHA-256 of each token (the primary key; the token itself
is never stored), the customer it signs in as, when it expires and when it
was used. Decision 0012 says why the links live in the database (every worker
of ``serve --workers N`` must know them) and how a redemption is made single use.

The downgrade drops the table: the links are short-lived and worth nothing
once their ten minutes have passed.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 21:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from flightlog.db.types import UtcDateTime, utcnow

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "local_sign_ins",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("expires_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("used_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", UtcDateTime(timezone=True), server_default=utcnow(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_local_sign_ins_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_local_sign_ins")),
    )
    op.create_index(
        op.f("ix_local_sign_ins_customer_id"), "local_sign_ins", ["customer_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_local_sign_ins_customer_id"), table_name="local_sign_ins")
    op.drop_table("local_sign_ins")

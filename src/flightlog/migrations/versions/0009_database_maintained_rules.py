"""Rules the database keeps itself (issue 15): updated_at triggers, cycle refusal,
partial indexes and the ``index_usage_stats`` view.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Filled in by the following commits."""


def downgrade() -> None:
    """Filled in by the following commits."""

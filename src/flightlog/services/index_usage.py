"""How often each index is used and how big it is (seed 004's ``index_usage_stats``).

PostgreSQL counts index scans (``pg_stat_user_indexes``); migration 0009 puts
them in the ``index_usage_stats`` view with a usage category, and this module
reads that view. SQLite counts nothing: every index is reported with ``scans``
None and the category ``NOT TRACKED``, sized from the ``dbstat`` table when the
SQLite build has it (``size_bytes`` None otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

#: Category of an index whose database keeps no usage counters (SQLite).
NOT_TRACKED = "NOT TRACKED"


@dataclass(frozen=True)
class IndexUsage:
    """One index: where it is, how often it was scanned, how big it is, and the verdict."""

    table: str
    index: str
    scans: int | None
    size_bytes: int | None
    category: str


def index_usage(session: Session) -> list[IndexUsage]:
    """Every index of the database's current schema, by table then index name."""
    rows = session.execute(
        text(
            "SELECT tablename, indexname, index_scans, index_size_bytes, usage_category "
            "FROM index_usage_stats ORDER BY tablename, indexname"
        )
    ).all()
    return [
        IndexUsage(
            table=str(row[0]),
            index=str(row[1]),
            scans=None if row[2] is None else int(row[2]),
            size_bytes=None if row[3] is None else int(row[3]),
            category=str(row[4]),
        )
        for row in rows
    ]


__all__ = ["NOT_TRACKED", "IndexUsage", "index_usage"]

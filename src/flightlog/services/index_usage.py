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
from sqlalchemy.exc import OperationalError
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


#: PostgreSQL's categories, from the view: never scanned since the statistics were reset,
#: fewer than 100 scans, fewer than 1000, and more.
CATEGORIES = ("UNUSED", "LOW_USAGE", "MEDIUM_USAGE", "HIGH_USAGE")


def index_usage(session: Session) -> list[IndexUsage]:
    """Every index of the database's current schema, by table then index name.

    PostgreSQL's counters are cumulative since its statistics were last reset
    (``pg_stat_reset()``) and reach the view a moment after the scans, when
    the scanning session reports them. An index used only to enforce a
    primary key or a unique constraint may rightly show as UNUSED.
    """
    rows = session.execute(
        text(
            "SELECT tablename, indexname, index_scans, index_size_bytes, usage_category "
            "FROM index_usage_stats ORDER BY tablename, indexname"
        )
    ).all()
    sizes = _sqlite_sizes(session) if session.get_bind().dialect.name == "sqlite" else {}
    return [
        IndexUsage(
            table=str(row[0]),
            index=str(row[1]),
            scans=None if row[2] is None else int(row[2]),
            size_bytes=int(row[3]) if row[3] is not None else sizes.get(str(row[1])),
            category=str(row[4]),
        )
        for row in rows
    ]


def _sqlite_sizes(session: Session) -> dict[str, int]:
    """Bytes per index from the ``dbstat`` table; empty when this SQLite build lacks it.

    ``dbstat`` is a compile-time option (``SQLITE_ENABLE_DBSTAT_VTAB``), on in
    the builds Python usually ships with, but not guaranteed.
    """
    try:
        rows = session.execute(text("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")).all()
    except OperationalError:
        return {}
    return {str(name): int(size) for name, size in rows if size is not None}


__all__ = ["CATEGORIES", "NOT_TRACKED", "IndexUsage", "index_usage"]

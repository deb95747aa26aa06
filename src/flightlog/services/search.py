"""Full-text search over a customer's tasks (title, description, input prompt).

PostgreSQL matches ``TASK_SEARCH_VECTOR``, the very expression the GIN index
``ix_tasks_search_gin`` was built on (any other spelling and the planner
cannot use it), against ``websearch_to_tsquery``, which accepts whatever a
person types without raising. SQLite uses the FTS5 table ``tasks_fts``
(porter stemming, like PostgreSQL's english configuration), keyed through
``tasks_fts_docs``; FTS5's own query language raises on stray quotes or
operators, so user text is rewritten into quoted terms first.

User text only ever travels as a bound parameter.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Float, Select, bindparam, column, func, literal_column, select, table
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from flightlog.models import Task
from flightlog.models.task import TASK_SEARCH_VECTOR
from flightlog.services._common import require
from flightlog.services._dialect import dialect_name

MAX_RESULTS = 200

#: The FTS5 table and its key map, as lightweight tables: no MetaData, never created here.
_FTS = table("tasks_fts", column("rowid"))
_FTS_DOCS = table("tasks_fts_docs", column("doc_id"), column("task_id"))


def terms(query: str) -> list[str]:
    """The words of a query. NUL cannot travel to either database, so it separates words."""
    require(isinstance(query, str), "the search query must be text")
    return query.replace("\x00", " ").split()


def fts5_query(words: list[str]) -> str:
    """Each word as an FTS5 string (quotes doubled), joined by spaces: all must match.

    Inside a string FTS5 sees no syntax (``*``, ``:``, ``NEAR``, ``OR``,
    parentheses, ``^``, ``-``), only text to tokenize the way the index was.
    """
    return " ".join('"' + word.replace('"', '""') + '"' for word in words)


def _postgres_statement(
    text: str, customer_id: uuid.UUID, limit: int
) -> Select[tuple[Task, float]]:
    vector: ColumnElement[Any] = literal_column(TASK_SEARCH_VECTOR)
    tsquery = func.websearch_to_tsquery(literal_column("'english'"), bindparam("q", text))
    rank = func.ts_rank(vector, tsquery, type_=Float).label("rank")
    return (
        select(Task, rank)
        .where(Task.customer_id == customer_id, vector.op("@@")(tsquery))
        .order_by(rank.desc(), Task.id.desc())
        .limit(limit)
    )


def _sqlite_statement(text: str, customer_id: uuid.UUID, limit: int) -> Select[tuple[Task, float]]:
    fts: ColumnElement[Any] = literal_column("tasks_fts")
    # bm25() is lower-is-better; negate it so both dialects rank higher-is-better.
    rank = (-func.bm25(fts, type_=Float)).label("rank")
    return (
        select(Task, rank)
        .select_from(_FTS)
        .join(_FTS_DOCS, _FTS_DOCS.c.doc_id == _FTS.c.rowid)
        .join(Task, Task.id == _FTS_DOCS.c.task_id)
        .where(fts.op("MATCH")(bindparam("q", fts5_query(text.split()))))
        .where(Task.customer_id == customer_id)
        .order_by(rank.desc(), Task.id.desc())
        .limit(limit)
    )


def search_statement(
    dialect: str, query: str, *, customer_id: uuid.UUID, limit: int = 20
) -> Select[tuple[Task, float]]:
    """The search as a statement (exposed so its plan can be inspected)."""
    require(1 <= limit <= MAX_RESULTS, f"limit must be between 1 and {MAX_RESULTS}")
    words = terms(query)
    require(bool(query.strip()), "the search query is empty: give at least one word")
    text = " ".join(words)
    if dialect == "postgresql":
        return _postgres_statement(text, customer_id, limit)
    return _sqlite_statement(text, customer_id, limit)


def search_tasks(
    session: Session, customer_id: uuid.UUID, /, query: str, limit: int = 20
) -> list[tuple[Task, float]]:
    """The customer's tasks matching every word of ``query``, best match first.

    Words are stemmed ("authenticate" finds "authentication"). The rank is
    higher for better matches on both dialects, but its scale differs
    (``ts_rank`` on PostgreSQL, negated ``bm25`` on SQLite): compare ranks
    within one result list only.
    """
    stmt = search_statement(dialect_name(session), query, customer_id=customer_id, limit=limit)
    if not terms(query):
        return []
    rows = (session.execute(stmt)).all()
    return [(row[0], float(row[1])) for row in rows]


__all__ = ["MAX_RESULTS", "fts5_query", "search_statement", "search_tasks", "terms"]

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
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Float, Select, bindparam, column, func, literal_column, select, table
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from flightlog.models import Task
from flightlog.models.task import TASK_SEARCH_VECTOR
from flightlog.services._common import require
from flightlog.services._dialect import dialect_name

MAX_RESULTS = 200
#: Deepest ``offset`` a search pages to: a person pages through the best matches, not all.
MAX_OFFSET = 100_000

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


def _postgres_statement(text: str, customer_id: uuid.UUID) -> Select[tuple[Task, float]]:
    vector: ColumnElement[Any] = literal_column(TASK_SEARCH_VECTOR)
    tsquery = func.websearch_to_tsquery(literal_column("'english'"), bindparam("q", text))
    rank = func.ts_rank(vector, tsquery, type_=Float).label("rank")
    return (
        select(Task, rank)
        .where(Task.customer_id == customer_id, vector.op("@@")(tsquery))
        .order_by(rank.desc(), Task.id.desc())
    )


def _sqlite_statement(text: str, customer_id: uuid.UUID) -> Select[tuple[Task, float]]:
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
    )


def _matches(dialect: str, query: str, customer_id: uuid.UUID) -> Select[tuple[Task, float]]:
    """Every match, best first, ties broken by id (newest first) on both dialects."""
    words = terms(query)
    require(bool(query.strip()), "the search query is empty: give at least one word")
    text = " ".join(words)
    if dialect == "postgresql":
        return _postgres_statement(text, customer_id)
    return _sqlite_statement(text, customer_id)


def _require_window(limit: int, offset: int) -> None:
    require(1 <= limit <= MAX_RESULTS, f"limit must be between 1 and {MAX_RESULTS}")
    require(0 <= offset <= MAX_OFFSET, f"offset must be between 0 and {MAX_OFFSET}")


def search_statement(
    dialect: str, query: str, *, customer_id: uuid.UUID, limit: int = 20, offset: int = 0
) -> Select[tuple[Task, float]]:
    """The search as a statement (exposed so its plan can be inspected)."""
    _require_window(limit, offset)
    return _matches(dialect, query, customer_id).limit(limit).offset(offset)


def count_statement(dialect: str, query: str, *, customer_id: uuid.UUID) -> Select[tuple[int]]:
    """How many tasks the search matches: the very match, without rank or order."""
    matches = _matches(dialect, query, customer_id).order_by(None).with_only_columns(Task.id)
    return select(func.count()).select_from(matches.subquery())


def search_tasks(
    session: Session, customer_id: uuid.UUID, /, query: str, limit: int = 20, *, offset: int = 0
) -> list[tuple[Task, float]]:
    """The customer's tasks matching every word of ``query``, best match first.

    Words are stemmed ("authenticate" finds "authentication"). The rank is
    higher for better matches on both dialects, but its scale differs
    (``ts_rank`` on PostgreSQL, negated ``bm25`` on SQLite): compare ranks
    within one result list only.

    ``offset`` skips that many of the best matches, to page through them. Offset
    paging (not a keyset cursor) fits a ranked list: for a fixed query over the
    same tasks the order is stable, because ties in rank are broken by the
    task's id on both dialects, so pages neither repeat nor skip a task; and a
    rank is a float recomputed per query, a poor thing to carry in a cursor.
    (Adding or changing tasks between pages can move matches, as on any ranked
    list; SQLite's bm25 weighs words by the whole index, so even another
    customer's tasks can shift ranks, never which tasks are yours.)
    """
    stmt = search_statement(
        dialect_name(session), query, customer_id=customer_id, limit=limit, offset=offset
    )
    if not terms(query):
        return []
    rows = (session.execute(stmt)).all()
    return [(row[0], float(row[1])) for row in rows]


@dataclass(frozen=True)
class SearchPage:
    """One page of search results, best first, with where it lies among all the matches.

    ``total`` counts every match (the same matching rule); ``offset`` is the
    number of better matches before the page. ``next_offset`` and
    ``previous_offset`` (pass as ``offset``) are None at either end.
    """

    items: list[tuple[Task, float]]
    total: int
    offset: int
    next_offset: int | None
    previous_offset: int | None


def search_page(
    session: Session, customer_id: uuid.UUID, /, query: str, *, offset: int = 0, limit: int = 50
) -> SearchPage:
    """A page of :func:`search_tasks` with the count of all matches, so it reads "51-100 of N".

    A separate operation because :func:`search_tasks` answers a bare list (over
    HTTP a JSON array) that has no room for a total without breaking its callers.
    """
    _require_window(limit, offset)
    if not terms(query):
        search_tasks(session, customer_id, query, limit)  # refuses a blank query the same way
        return SearchPage(items=[], total=0, offset=offset, next_offset=None, previous_offset=None)
    dialect = dialect_name(session)
    items = search_tasks(session, customer_id, query, limit, offset=offset)
    total = int(session.scalar(count_statement(dialect, query, customer_id=customer_id)) or 0)
    return SearchPage(
        items=items,
        total=total,
        offset=offset,
        next_offset=offset + limit if offset + limit < total else None,
        previous_offset=max(0, min(offset, total) - limit) if offset > 0 else None,
    )


__all__ = [
    "MAX_OFFSET",
    "MAX_RESULTS",
    "SearchPage",
    "count_statement",
    "fts5_query",
    "search_page",
    "search_statement",
    "search_tasks",
    "terms",
]

"""Seed 004's JSON queries mean the same on both dialects (PostgreSQL's containment rules).

``requirements @> '{"type": "feature", "priority": 1}'`` is PostgreSQL's; on SQLite
Flightlog spells it with ``json_each``. Each dialect is checked against one
reference of PostgreSQL's rules (:func:`contains`) on documents chosen to be
tricky (1 vs 1.0 vs "1" vs true, nested arrays and objects, strings that look
like JSON, empty containers) and on generated queries, so both agree with it
and so with each other. On PostgreSQL the queries are checked to use the GIN
indexes of migration 0002.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.orm import Session

import factories as f
from flightlog import ValidationError
from flightlog.models import Task
from flightlog.services.json_match import json_array_has, json_contains, json_has_keys


def _scalar_equal(a: Any, b: Any) -> bool:
    if isinstance(a, dict | list) or isinstance(b, dict | list):
        return False
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def _matches(document: Any, value: Any) -> bool:
    """An object's value or an array's element ``document`` matches ``value`` (below the top)."""
    if isinstance(value, dict | list):
        return contains(document, value)
    return _scalar_equal(document, value)


def contains(document: Any, contained: Any) -> bool:
    """PostgreSQL's ``document @> contained`` for containers (``jsonb_contains``)."""
    if isinstance(contained, dict):
        return isinstance(document, dict) and all(
            key in document and _matches(document[key], value) for key, value in contained.items()
        )
    if isinstance(contained, list):
        return isinstance(document, list) and all(
            any(_matches(element, value) for element in document) for value in contained
        )
    return _scalar_equal(document, contained)


DOCUMENTS: list[dict[str, Any]] = [
    {"type": "feature", "priority": 1},
    {"type": "feature", "priority": 1.0},
    {"type": "feature", "priority": "1"},
    {"type": "feature", "priority": True},
    {"type": "bug", "priority": 1, "labels": ["a", "b"]},
    {"labels": ["a", ["b", "c"]]},
    {"labels": "a"},
    {"labels": [{"k": 1, "j": 2}, {"k": 2}]},
    {"labels": [1, "1", True, None, False]},
    {"nested": {"deep": {"x": 1, "y": [1, 2, {"z": None}]}}},
    {"nested": {"deep": {"x": "1"}}},
    {"nested": '{"deep": 1}'},
    {"n": None},
    {"s": "hello"},
    {"s": "[1]"},
    {"e": [], "o": {}},
    {},
    {"type": "Feature"},
    {"a.b": 1, "a": {"b": 2}},
    {"k'q\"": "quote", "é": "🎉"},
    {"big": 12345678901234567, "f": 0.1},
]

#: Queries a careless translation gets wrong, each with what it must find.
TRICKY: list[dict[str, Any]] = [
    {"type": "feature", "priority": 1},
    {"priority": "1"},
    {"priority": True},
    {"priority": 1.0},
    {"labels": ["a"]},
    {"labels": "a"},
    {"labels": [["b"]]},
    {"labels": ["b"]},
    {"labels": [{"k": 1}]},
    {"labels": [{"k": 2, "j": 2}]},
    {"labels": [None]},
    {"labels": [False, 1]},
    {"labels": []},
    {"nested": {"deep": {"y": [{"z": None}]}}},
    {"nested": {"deep": {"y": [{}]}}},
    {"nested": {"deep": {"x": 1}}},
    {"nested": {"deep": 1}},
    {"n": None},
    {"s": {"a": 1}},
    {"s": [1]},
    {"e": [], "o": {}},
    {"o": []},
    {},
    {"a.b": 1},
    {"a": {"b": 2}},
    {"k'q\"": "quote", "é": "🎉"},
    {"big": 12345678901234567},
    {"f": 0.1},
]

KEYS = ["type", "priority", "labels", "nested", "deep", "x", "y", "z", "n", "s", "k", "j", "o"]
SCALARS = st.sampled_from([1, 1.0, 2, "1", "a", "b", "c", "feature", True, False, None, "hello"])
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)
    ),
    max_leaves=6,
)
QUERIES = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=3)


@pytest.fixture
def corpus(session: Session) -> tuple[uuid.UUID, dict[uuid.UUID, dict[str, Any]]]:
    customer = f.customer(session)
    rows = {f.task(session, customer, requirements=doc).id: doc for doc in DOCUMENTS}
    return customer.id, rows


def _found(session: Session, customer_id: uuid.UUID, condition: Any) -> set[uuid.UUID]:
    stmt = select(Task.id).where(Task.customer_id == customer_id, condition)
    return set(session.scalars(stmt).all())


def _expected(rows: dict[uuid.UUID, dict[str, Any]], query: dict[str, Any]) -> set[uuid.UUID]:
    return {task_id for task_id, doc in rows.items() if contains(doc, query)}


def test_seed004_requirements_containment_follows_postgresql_on_tricky_documents(
    session: Session, corpus: tuple[uuid.UUID, dict[uuid.UUID, dict[str, Any]]]
) -> None:
    customer_id, rows = corpus
    for query in TRICKY:
        condition = json_contains(session, Task.requirements, query, "requirements_contains")
        assert _found(session, customer_id, condition) == _expected(rows, query), query
    # A few answers spelled out, so the reference itself is pinned down.
    one = json_contains(session, Task.requirements, {"priority": 1}, "q")
    found = {str(rows[i].get("priority")) for i in _found(session, customer_id, one)}
    assert found == {"1", "1.0"}  # 1 and 1.0, not "1" nor true


def test_seed004_requirements_containment_agrees_on_generated_queries(
    session: Session, corpus: tuple[uuid.UUID, dict[uuid.UUID, dict[str, Any]]]
) -> None:
    customer_id, rows = corpus

    @settings(
        max_examples=150,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(QUERIES)
    def check(query: dict[str, Any]) -> None:
        condition = json_contains(session, Task.requirements, query, "requirements_contains")
        assert _found(session, customer_id, condition) == _expected(rows, query), query

    check()


def test_seed004_context_keys_and_tags_any_all_agree(session: Session) -> None:
    customer = f.customer(session)
    tagged = {
        f.task(session, customer, tags=tags, context=context).id: (tags, context)
        for tags, context in [
            (["frontend", "auth"], {"files": [], "environment": "dev"}),
            (["frontend"], {"agent_config": {"files": 1}}),
            (["backend", "Auth"], {"repository": {"branch": "main"}}),
            ([], {}),
            (["a,b"], {"a,b": 1}),
        ]
    }

    def ids(condition: Any) -> set[str]:
        return {
            tagged[i][0][0] if tagged[i][0] else "-"
            for i in _found(session, customer.id, condition)
        }

    def has(keys: list[str], every: bool) -> Any:
        return json_has_keys(session, Task.context, keys, "context_has", every=every)

    def tags(values: list[str], every: bool) -> Any:
        return json_array_has(session, Task.tags, values, "tags", every=every)

    assert ids(has(["files"], True)) == {"frontend"}  # a top-level key only, not a nested one
    assert ids(has(["files", "environment"], True)) == {"frontend"}
    assert ids(has(["environment", "repository"], False)) == {"frontend", "backend"}
    assert ids(has(["a,b"], True)) == {"a,b"}
    assert ids(has([], True)) == {"frontend", "backend", "-", "a,b"}
    assert ids(has([], False)) == set()
    assert ids(tags(["frontend", "auth"], True)) == {"frontend"}
    assert len(_found(session, customer.id, tags(["frontend"], True))) == 2
    assert ids(tags(["auth", "backend"], False)) == {"frontend", "backend"}  # case-sensitive
    assert ids(tags(["Auth"], False)) == {"backend"}
    assert ids(tags(["a", "b"], False)) == set()  # "a,b" is one tag
    assert ids(tags(["nothing"], False)) == set()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"x": float("nan")}, "finite"),
        ({"x": [float("-inf")]}, "finite"),
        ({1: "x"}, "key: must be a string"),
        ({"x": {1, 2}}, "not JSON"),
        (["type"], "JSON object"),
    ],
)
def test_seed004_containment_refuses_values_a_dialect_cannot_compare(
    session: Session, query: Any, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        json_contains(session, Task.requirements, query, "requirements_contains")


def test_seed004_text_no_document_holds_and_huge_numbers_match_nothing_without_errors(
    session: Session, corpus: tuple[uuid.UUID, dict[uuid.UUID, dict[str, Any]]]
) -> None:
    customer_id, _ = corpus
    for query in ({"s": "hel\x00lo"}, {"s\x00": 1}, {"big": 2**70}, {"f": -1e300}):
        condition = json_contains(session, Task.requirements, query, "requirements_contains")
        assert _found(session, customer_id, condition) == set(), query
    for every in (True, False):
        keys = json_has_keys(session, Task.context, ["a\x00"], "context_has", every=every)
        assert _found(session, customer_id, keys) == set()
        tags = json_array_has(session, Task.tags, ["x\x00"], "tags", every=every)
        assert _found(session, customer_id, tags) == set()


def _plan(session: Session, condition: Any) -> str:
    stmt = select(Task.id).where(condition)
    compiled = stmt.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    session.execute(text("SET LOCAL enable_seqscan = off"))
    return "\n".join(row[0] for row in session.execute(text(f"EXPLAIN {compiled}")))


@pytest.mark.postgres_only  # GIN indexes exist on PostgreSQL only (migration 0002)
def test_seed004_json_queries_use_the_gin_indexes(session: Session) -> None:
    customer = f.customer(session)
    for doc in DOCUMENTS:
        f.task(session, customer, requirements=doc, tags=["frontend"], context={"files": []})
    query = {"type": "feature", "priority": 1}
    plans = {
        "ix_tasks_requirements_gin": _plan(
            session, json_contains(session, Task.requirements, query, "q")
        ),
        "ix_tasks_context_gin": _plan(
            session, json_has_keys(session, Task.context, ["files"], "q")
        ),
        "ix_tasks_tags_gin": _plan(
            session, json_array_has(session, Task.tags, ["a", "frontend"], "q", every=False)
        ),
    }
    for index, plan in plans.items():
        assert index in plan, plan
    plan_all = _plan(session, json_array_has(session, Task.tags, ["a", "b"], "q", every=True))
    assert "ix_tasks_tags_gin" in plan_all, plan_all

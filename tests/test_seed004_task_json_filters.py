"""Seed 004's JSON task queries through the Store, the typed client and plain HTTP.

The seed's users ask ``requirements @> '{"type": "feature", "priority": 1}'``,
``tags ? 'frontend'`` and the like; the task list takes them as
``requirements_contains``, ``context_has``, ``tags_any`` and ``tags_all``, with
the same answers on both dialects (see test_seed004_json_containment for the
containment rules themselves) and a 422 naming the parameter for bad input.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from api_client import client_of, error_code
from flightlog import ValidationError
from flightlog.store import Store
from test_client import client_for


async def _seed(store: Store) -> None:
    await store.tasks.create(
        title="login",
        requirements={"type": "feature", "priority": 1, "acceptance_criteria": ["tests"]},
        context={"files": ["src/auth.py"], "environment": "development"},
        tags=["frontend", "auth"],
    )
    await store.tasks.create(
        title="crash",
        requirements={"type": "bug", "priority": 1},
        context={"repository": {"branch": "fix/crash"}},
        tags=["backend"],
    )
    await store.tasks.create(
        title="search",
        requirements={"type": "feature", "priority": 2, "labels": {"team": "web"}},
        tags=["frontend"],
    )


def _titles(page: Any) -> set[str]:
    items = page["items"] if isinstance(page, dict) else page.items
    return {t["title"] if isinstance(t, dict) else t.title for t in items}


async def test_seed004_tasks_filter_by_requirements_context_and_tags(store: Store) -> None:
    await _seed(store)
    feature_one = {"type": "feature", "priority": 1}
    assert _titles(await store.tasks.list(requirements_contains=feature_one)) == {"login"}
    assert _titles(await store.tasks.list(requirements_contains={"type": "feature"})) == {
        "login",
        "search",
    }
    nested = {"labels": {"team": "web"}}
    assert _titles(await store.tasks.list(requirements_contains=nested)) == {"search"}
    partial_array = {"acceptance_criteria": ["tests"]}
    assert _titles(await store.tasks.list(requirements_contains=partial_array)) == {"login"}
    assert _titles(await store.tasks.list(requirements_contains={"priority": "1"})) == set()
    assert _titles(await store.tasks.list(context_has="files")) == {"login"}
    assert _titles(await store.tasks.list(context_has=["files", "repository"])) == set()
    assert _titles(await store.tasks.list(tags_any=["auth", "backend"])) == {"login", "crash"}
    assert _titles(await store.tasks.list(tags_all=["frontend", "auth"])) == {"login"}
    assert _titles(await store.tasks.list(tags_all="frontend")) == {"login", "search"}
    combined = await store.tasks.list(
        requirements_contains={"type": "feature"}, tags_any=["auth"], total=True
    )
    assert (_titles(combined), combined.total) == ({"login"}, 1)


async def test_seed004_json_task_filters_answer_the_same_over_http(store: Store) -> None:
    await _seed(store)
    async with client_for(store) as fl:
        page = await fl.tasks.list(requirements_contains={"type": "feature", "priority": 1})
        assert _titles(page) == {"login"}
        assert _titles(await fl.tasks.list(context_has=["repository"])) == {"crash"}
        assert _titles(await fl.tasks.list(tags_any=["auth", "backend"])) == {"login", "crash"}
        assert _titles(await fl.tasks.list(tags_all=["frontend", "auth"])) == {"login"}
        with pytest.raises(ValidationError, match="requirements_contains"):
            await fl.tasks.list(requirements_contains={"x": float("inf")})
    async with client_of(store) as api:
        contains = json.dumps({"type": "feature", "priority": 1})
        answered = await api.get("/tasks", params={"requirements_contains": contains})
        assert answered.status_code == 200, answered.text
        assert _titles(answered.json()) == {"login"}
        url = '/tasks?requirements_contains={"type":"feature"}&tags_any=frontend&tags_any=auth'
        assert _titles((await api.get(url)).json()) == {"login", "search"}
        both = await api.get("/tasks", params=[("tags_all", "frontend"), ("tags_all", "auth")])
        assert _titles(both.json()) == {"login"}
        keyed = await api.get("/tasks", params={"context_has": "environment"})
        assert _titles(keyed.json()) == {"login"}


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("{not json", "is not valid JSON"),
        ('["type"]', "must be a JSON object"),
        ('"feature"', "must be a JSON object"),
        ('{"x": NaN}', "finite"),
        ('{"x": ' + "[" * 80 + "]" * 80 + "}", "nests too deeply"),
    ],
)
async def test_seed004_bad_requirements_contains_is_a_422_naming_it(
    store: Store, value: str, says: str
) -> None:
    async with client_of(store) as api:
        refused = await api.get("/tasks", params={"requirements_contains": value})
        assert error_code(refused, 422) == "validation_error"
        message = refused.json()["error"]["message"]
        assert "requirements_contains" in message, message
        assert says in message, message


async def test_seed004_the_store_refuses_what_http_refuses(store: Store) -> None:
    with pytest.raises(ValidationError, match="requirements_contains: must be a JSON object"):
        await store.tasks.list(requirements_contains=["type"])  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"context_has: must be a string or a list"):
        await store.tasks.list(context_has=7)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"tags_any\[1\]: must be a string"):
        await store.tasks.list(tags_any=["a", 3])  # type: ignore[list-item]


async def test_seed004_long_tag_and_key_lists_answer_and_oversized_queries_are_422(
    store: Store,
) -> None:
    """A thousand tags or keys is one query on SQLite too (it once grew an expression tree
    past SQLite's 1000 levels: a 500); more than the limits is a 422 on both dialects."""
    await _seed(store)
    many = [f"t{index}" for index in range(1100)]
    async with client_of(store) as api:
        for name, values, titles in (
            ("tags_any", [*many, "backend"], {"crash"}),
            ("tags_all", [*many, "frontend"], set()),
            ("tags_all", ["frontend", "auth", "frontend"], {"login"}),
            ("context_has", [*many, "files"], set()),
        ):
            answered = await api.get("/tasks", params=[(name, value) for value in values])
            assert answered.status_code == 200, answered.text[:300]
            assert _titles(answered.json()) == titles, name
        contains = json.dumps({"type": "feature", "labels": list(range(300))})
        refused = await api.get("/tasks", params={"requirements_contains": contains})
        assert error_code(refused, 422) == "validation_error"
        assert "requirements_contains: holds more than 256" in refused.json()["error"]["message"]
    assert _titles(await store.tasks.list(tags_any=[*many, "auth"])) == {"login"}
    assert _titles(await store.tasks.list(context_has=[*many[:5], "files"])) == set()
    assert _titles(await store.tasks.list(context_has=["files", "environment"])) == {"login"}
    wide = {"type": "feature", "acceptance_criteria": ["tests"] * 200}
    assert _titles(await store.tasks.list(requirements_contains=wide)) == {"login"}
    with pytest.raises(ValidationError, match=r"tags_any: names more than 2000 values"):
        await store.tasks.list(tags_any=[f"x{index}" for index in range(2001)])

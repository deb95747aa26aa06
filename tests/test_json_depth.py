"""JSON bodies nested past the documented limit are a 422 before any work (defect 4).

``POST /api/v1/events`` used to answer a deeply nested body with a 500
(``RecursionError`` while decoding) while other routes gave a 4xx; nesting the
decoder survived was stored as sent.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from api_client import app_for, client_for
from flightlog import ValidationError
from flightlog.api.json_depth import MAX_JSON_DEPTH, nested_deeper_than
from flightlog.api.routes.artifacts import RAW_BODY_ROUTES
from flightlog.models import Base
from flightlog.store import Store

_PATH_PARAMETER = re.compile(r"\{[^}]+\}")


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(item) for item in value.values()), default=0)
    return 0


def _nested(levels: int, leaf: Any = "leaf") -> Any:
    value = leaf
    for level in range(levels):
        value = {"k": value} if level % 2 else [value]
    return value


#: Strings that a naive bracket counter would get wrong: brackets, quotes and escapes in text.
_TRICKY_TEXT = st.sampled_from(["[", "]}", '"', "\\", '\\"[', '{"a": [', "\\\\", "\u005b"])
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | _TRICKY_TEXT | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(_TRICKY_TEXT | st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=40,
)


@given(value=_JSON, limit=st.integers(min_value=1, max_value=8))
def test_the_scanner_measures_depth_as_a_parser_would(value: Any, limit: int) -> None:
    assert nested_deeper_than(json.dumps(value).encode(), limit) == (_depth(value) > limit)


@given(depth=st.integers(min_value=0, max_value=3 * MAX_JSON_DEPTH))
def test_the_scanner_agrees_around_the_limit(depth: int) -> None:
    body = json.dumps({"data": _nested(depth, leaf='"]}[{')}).encode()
    assert nested_deeper_than(body) == (depth + 1 > MAX_JSON_DEPTH)


def test_unbalanced_openers_are_too_deep_however_they_end() -> None:
    assert nested_deeper_than(b"[" * 100_000)
    assert nested_deeper_than(b"[1," * 100_000)
    assert nested_deeper_than(b'{"a":' * 100_000)
    assert not nested_deeper_than(b"[" * MAX_JSON_DEPTH + b"1")


def _body_routes(store: Store) -> list[tuple[str, str]]:
    app = app_for(store)
    routes = []
    for route in iter_route_contexts(app.routes):
        path = route.path or ""
        if not path.startswith("/api/v1/"):
            continue
        for method in sorted(route.methods or ()):
            raw = (method, path.removeprefix("/api/v1")) in RAW_BODY_ROUTES
            if method in {"POST", "PUT", "PATCH"} and not raw:
                routes.append((method, path))
    return routes


async def _row_counts(store: Store) -> dict[str, int]:
    async with store.reader() as session:
        return {
            table.name: int(await session.scalar(select(func.count()).select_from(table)) or 0)
            for table in Base.metadata.sorted_tables
        }


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH, 5_000, 200_000])
async def test_every_route_with_a_body_refuses_deep_json_before_any_work(
    store: Store, levels: int
) -> None:
    """``levels`` inside the body's own object: one past the limit, and far past it."""
    created = await store.api_keys.create("depth test")
    routes = _body_routes(store)
    assert len(routes) > 40, routes
    # Written out as text: json.dumps itself cannot encode thousands of levels.
    body = '{"title": "deep", "data": ' + "[" * levels + "1" + "]" * levels + "}"
    before = await _row_counts(store)
    async with client_for(app_for(store), created.key) as client:
        for method, path in routes:
            url = _PATH_PARAMETER.sub(str(uuid.uuid4()), path).removeprefix("/api/v1")
            response = await client.request(
                method, url, content=body, headers={"Content-Type": "application/json"}
            )
            assert response.status_code == 422, (method, path, response.text)
            error = response.json()["error"]
            assert error["code"] == "validation_error"
            assert f"deeper than {MAX_JSON_DEPTH} levels" in error["message"]
    assert await _row_counts(store) == before


async def test_json_at_the_limit_is_accepted(store: Store) -> None:
    created = await store.api_keys.create("depth test")
    task = await store.tasks.create(title="holds deep data")
    # The body's object, "events", its list and one event are three levels.
    data = _nested(MAX_JSON_DEPTH - 4)
    event = {"event_type": "log", "task_id": str(task.id), "content": "deep", "data": {"d": data}}
    async with client_for(app_for(store), created.key) as client:
        stored = await client.post("/events", json={"events": [event]})
        assert stored.status_code == 201, stored.text
        config = {"title": "deep config", "config": _nested(MAX_JSON_DEPTH - 2)}
        assert (await client.post("/tasks", json=config)).status_code == 201
        event["data"] = {"d": [data]}
        refused = await client.post("/events", json={"events": [event]})
        assert refused.status_code == 422, refused.text
    page = await store.events.list(task_id=task.id)
    deep = [e for e in page.items if e.content == "deep"]
    assert len(deep) == 1
    assert _depth(deep[0].data) == MAX_JSON_DEPTH - 3


async def test_the_python_api_refuses_json_too_deep_to_store(store: Store) -> None:
    task = await store.tasks.create(title="python caller")
    before = await _row_counts(store)
    with pytest.raises(ValidationError, match="nested too deeply"):
        await store.tasks.update(task.id, config=_nested(2_000))
    assert await _row_counts(store) == before


async def test_a_json_body_in_utf16_is_refused_not_scanned_blind(store: Store) -> None:
    """The scan reads bytes; UTF-16 would hide brackets behind its quote-like bytes."""
    created = await store.api_keys.create("depth test")
    task = await store.tasks.create(title="utf-16")
    before = await _row_counts(store)
    # U+225B encodes as 5B 22 in UTF-16-LE: a bracket and a quote to a byte scanner.
    deep = "[" * 5_000 + "1" + "]" * 5_000
    event = '{"event_type": "log", "task_id": "%s", "content": "\u225b", "data": %s}'
    body = ('{"events": [' + event % (task.id, deep) + "]}").encode("utf-16")
    config = ('{"title": "\u225b", "config": ' + "[" * 200 + "]" * 200 + "}").encode("utf-16")
    async with client_for(app_for(store), created.key) as client:
        for url, content in (("/events", body), ("/tasks", config)):
            response = await client.post(
                url, content=content, headers={"Content-Type": "application/json"}
            )
            assert response.status_code == 422, response.text
            assert "UTF-8" in response.json()["error"]["message"]
    assert await _row_counts(store) == before


async def test_artifact_uploads_are_content_not_json(store: Store) -> None:
    """Any bytes, deep JSON included, may be stored as an artifact, with or without a type."""
    created = await store.api_keys.create("depth test")
    task = await store.tasks.create(title="uploads")
    deep_json = ("[" * 5_000 + "]" * 5_000).encode()
    binary = bytes(range(256)) * 64 + b"[" * 500
    async with client_for(app_for(store), created.key) as client:
        for name, content, headers in (
            ("deep.json", deep_json, {"Content-Type": "application/json"}),
            ("deep-untyped", deep_json, {}),
            ("binary", binary, {}),
        ):
            stored = await client.put(
                f"/tasks/{task.id}/artifacts/{name}", content=content, headers=headers
            )
            assert stored.status_code == 201, (name, stored.text)
            read = await client.get(f"/artifacts/{stored.json()['id']}/content")
            assert read.content == content

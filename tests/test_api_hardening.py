"""Bad input and foreign references over HTTP: a typed 4xx, nothing written, never a 500."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from api_client import app_for, client_for, client_of
from api_client import error_code as _code
from flightlog.api import create_app
from flightlog.db.engine import create_async_db_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.errors import NotFound
from flightlog.migrations.runner import Migrator
from flightlog.models import Event, Task, TaskRun
from flightlog.settings import Settings
from flightlog.store import Store


async def _counts(store: Store) -> tuple[int, int, int]:
    async with store.reader() as s:
        return (
            int(await s.scalar(select(func.count(Task.id))) or 0),
            int(await s.scalar(select(func.count(TaskRun.id))) or 0),
            int(await s.scalar(select(func.count(Event.id))) or 0),
        )


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/tasks", {"title": "t", "priority": 2**40}),
        # Python's json module reads these non-JSON literals; the API must refuse them.
        ("/tasks", '{"title": "t", "config": {"ratio": NaN}}'),
        ("/tasks", '{"title": "t", "config": {"big": Infinity}}'),
        ("/tasks", {"title": "t", "actor": "x" * 256}),
        ("/claims", {"worker": "w", "lease_seconds": 1e12}),
        ("/claims", {"worker": "w" * 256}),
        ("/events", '{"events": [{"event_type": "LOG", "data": {"x": -Infinity}}]}'),
        ("/events", {"events": [{"event_type": "LOG", "parent_event_id": 2**63}]}),
        ("/events", {"events": [{"event_type": "LOG", "created_at": "0001-01-01T00:00:00+01:00"}]}),
        ("/events", {"events": [{"event_type": "AUDIT", "content": "forged"}]}),
        ("/events", {"events": [{"event_type": "status_change"}]}),
        # A lone surrogate: valid JSON, a Python str, not encodable as UTF-8.
        ("/tasks", '{"title": "a\\ud800b"}'),
        ("/events", '{"events": [{"event_type": "LOG", "agent_role": "\\ud800"}]}'),
    ],
)
async def test_values_no_column_can_hold_are_a_422(store: Store, path: str, body: Any) -> None:
    async with client_of(store) as api:
        before = await _counts(store)
        if isinstance(body, str):
            sent = api.post(path, content=body, headers={"Content-Type": "application/json"})
        else:
            sent = api.post(path, json=body)
        assert _code(await sent, 422) == "validation_error"
        assert await _counts(store) == before


async def test_run_fields_are_bounded_and_usage_cannot_overflow(store: Store) -> None:
    async with client_of(store) as api:
        task = (await api.post("/tasks", json={"title": "t"})).json()
        too_long = await api.post(f"/tasks/{task['id']}/runs", json={"git_branch": "b" * 256})
        assert _code(too_long, 422) == "validation_error"
        run = (await api.post(f"/tasks/{task['id']}/runs")).json()
        step = (await api.post(f"/runs/{run['id']}/agent-runs", json={"agent_name": "QA"})).json()
        huge = await api.post(f"/agent-runs/{step['id']}/usage", json={"cost_usd": "1e9"})
        assert _code(huge, 422) == "validation_error"
        assert (await api.get(f"/runs/{run['id']}")).json()["cost_usd"] == "0.000000"
        big_after = await api.get("/events", params={"after_id": 2**63})
        assert _code(big_after, 422) == "validation_error"


async def test_references_to_unknown_or_foreign_agents_and_events_are_404(
    store: Store, other: Store
) -> None:
    theirs = await other.agents.register("their-bot", "engineer")
    their_event = await other.events.append({"event_type": "LOG"})
    async with client_of(store) as api:
        task = (await api.post("/tasks", json={"title": "t"})).json()
        run = (await api.post(f"/tasks/{task['id']}/runs")).json()
        before = await _counts(store)
        for agent_id in (str(uuid.uuid4()), str(theirs.id)):
            attempts = [
                api.post("/tasks", json={"title": "x", "assigned_agent_id": agent_id}),
                api.post(f"/tasks/{task['id']}/queued-runs", json={"agent_id": agent_id}),
                api.post(
                    f"/runs/{run['id']}/agent-runs", json={"agent_name": "x", "agent_id": agent_id}
                ),
                api.post("/events", json={"events": [{"event_type": "LOG", "agent_id": agent_id}]}),
            ]
            for attempt in attempts:
                assert _code(await attempt, 404) == "not_found"
        forged = {"events": [{"event_type": "LOG", "parent_event_id": their_event.id}]}
        assert _code(await api.post("/events", json=forged), 404) == "not_found"
        assert await _counts(store) == before
    with pytest.raises(NotFound, match="Agent"):
        await store.runs.start(uuid.UUID(task["id"]), agent_id=theirs.id)


async def test_a_claim_cannot_finish_another_tasks_run(store: Store) -> None:
    async with client_of(store) as api:
        for title in ("a", "b"):
            await api.post("/tasks", json={"title": title})
        [mine] = (await api.post("/claims", json={"worker": "w1"})).json()
        [theirs] = (await api.post("/claims", json={"worker": "w2"})).json()
        crossed = {**mine, "run_id": theirs["run_id"]}
        for action, body in (("complete", {"claim": crossed}), ("release", {"claim": crossed})):
            assert _code(await api.post(f"/claims/{action}", json=body), 409) == "conflict"
        assert (await api.get(f"/runs/{theirs['run_id']}")).json()["status"] == "RUNNING"
        assert (await api.get(f"/tasks/{mine['task_id']}")).json()["claimed_by"] == "w1"


async def test_downloads_are_not_sniffed_or_run_as_pages(store: Store) -> None:
    async with client_of(store) as api:
        task = (await api.post("/tasks", json={"title": "t"})).json()
        page = b"<script>alert(1)</script>"
        put = await api.put(
            f"/tasks/{task['id']}/artifacts/x.html",
            content=page,
            headers={"Content-Type": "text/html"},
        )
        got = await api.get(f"/artifacts/{put.json()['id']}/content")
    assert got.content == page
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-security-policy"] == "sandbox"


async def test_health_is_503_when_the_database_is_unreachable() -> None:
    settings = Settings(database_url="postgresql://nobody@127.0.0.1:1/none", pool_timeout_seconds=2)
    engine = create_async_db_engine(settings)
    try:
        async with client_for(create_app(settings, engine=engine), None) as api:
            response = await api.get("/health")
    finally:
        await engine.dispose()
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


@pytest.mark.sqlite_only
async def test_wrong_keys_do_not_wait_for_the_write_lock(dialect: str, tmp_path: Path) -> None:
    url = DatabaseUrl.parse(f"sqlite:///{tmp_path / 'locked.db'}")
    settings = Settings(database_url=str(url.url), sqlite_busy_timeout_ms=300)
    Migrator(settings, url).upgrade("head")
    engine = create_async_db_engine(settings)
    holder = sqlite3.connect(url.url.database or "", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process is writing
        async with client_for(
            create_app(settings, engine=engine), "fl_00000000_" + "A" * 43
        ) as api:
            response = await api.get("/tasks")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        await engine.dispose()
    assert _code(response, 401) == "unauthenticated"


async def test_request_bodies_over_the_ceiling_are_a_413_and_write_nothing(store: Store) -> None:
    created = await store.api_keys.create("uploads")
    app = app_for(store, api_max_body_bytes=4096)
    async with client_for(app, created.key) as api:
        task = (await api.post("/tasks", json={"title": "t"})).json()
        path = f"/tasks/{task['id']}/artifacts/big.bin"
        declared = await api.put(path, content=b"x" * 5000)
        assert _code(declared, 413) == "payload_too_large"

        async def chunks() -> Any:
            for _ in range(10):
                yield b"y" * 1000

        streamed = await api.put(path, content=chunks())
        assert _code(streamed, 413) == "payload_too_large"
        assert (await api.put(path, content=b"z" * 4000)).status_code == 201
        versions = (await api.get(f"{path}/versions")).json()
    assert [v["size_bytes"] for v in versions] == [4000]


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"events": [], "extra": 1}',
        b'{"events": {"event_type": "LOG"}}',
        b'{"events": ["LOG"]}',
        b'{"events": [' + b'{"event_type": "LOG"},' * 10_000 + b'{"event_type": "LOG"}]}',
    ],
)
async def test_malformed_batch_bodies_are_a_422(store: Store, raw: bytes) -> None:
    async with client_of(store) as api:
        before = await _counts(store)
        sent = await api.post("/events", content=raw, headers={"Content-Type": "application/json"})
        assert _code(sent, 422) == "validation_error"
        assert await _counts(store) == before


async def test_the_batch_bodies_are_documented_in_the_openapi_schema(store: Store) -> None:
    async with client_of(store) as api:
        schema = (await api.get("http://flightlog.test/openapi.json")).json()
    components = schema["components"]["schemas"]
    for path, field in (("/api/v1/events", "events"), ("/api/v1/metrics", "metrics")):
        body = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        assert field in body["schema"]["properties"]
        item_ref = body["schema"]["properties"][field]["items"]["$ref"]
        # Every reference resolves inside the document.
        assert item_ref.removeprefix("#/components/schemas/") in components
    assert "event_type" in components["NewEvent"]["properties"]

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
            return found + [r for value in node.values() for r in refs(value)]
        if isinstance(node, list):
            return [r for value in node for r in refs(value)]
        return []

    dangling = {
        r for r in refs(schema) if r.removeprefix("#/components/schemas/") not in components
    }
    assert dangling == set()


async def test_unknown_endpoints_and_methods_answer_in_the_same_error_shape(store: Store) -> None:
    async with client_of(store) as api:
        missing = await api.get("/no-such-thing")
        assert _code(missing, 404) == "not_found"
        assert "GET /api/v1/no-such-thing" in missing.json()["error"]["message"]
        assert _code(await api.delete("/events"), 405) == "method_not_allowed"


async def test_streamed_json_over_the_ceiling_is_a_413_too(store: Store) -> None:
    created = await store.api_keys.create("json")
    async with client_for(app_for(store, api_max_body_bytes=4096), created.key) as api:

        async def chunks() -> Any:
            yield b'{"title": "'
            for _ in range(10):
                yield b"x" * 1000
            yield b'"}'

        sent = await api.post(
            "/tasks", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert _code(sent, 413) == "payload_too_large"
    assert (await store.tasks.list()).items == []


async def test_numbers_past_64_bits_in_paths_and_cursors_are_a_422(store: Store) -> None:
    async with client_of(store) as api:
        task = (await api.post("/tasks", json={"title": "t"})).json()
        run = (await api.post(f"/tasks/{task['id']}/runs")).json()
        project = (await api.post("/projects", json={"name": "p"})).json()
        huge = str(10**20)
        cursor = {"after_at": "2026-01-01T00:00:00Z", "after_kind": "event", "after_key": huge}
        attempts = [
            api.get(f"/runs/{run['id']}/timeline", params=cursor),
            api.get(f"/projects/{project['id']}/contexts/{huge}"),
            api.get(
                f"/projects/{project['id']}/contexts/compare",
                params={"from_iteration": 1, "to_iteration": huge},
            ),
        ]
        for attempt in attempts:
            assert _code(await attempt, 422) == "validation_error"


@pytest.mark.postgres_only
async def test_text_postgresql_cannot_store_is_a_422_not_a_500(dialect: str, store: Store) -> None:
    async with client_of(store) as api:
        task = (await api.post("/tasks", json={"title": "t"})).json()
        before = await _counts(store)
        attempts = [
            api.post("/tasks", json={"title": "a\u0000b"}),
            api.post(
                "/events",
                json={
                    "events": [{"event_type": "LOG", "task_id": task["id"], "content": "a\u0000b"}]
                },
            ),
        ]
        for attempt in attempts:
            response = await attempt
            assert _code(response, 422) == "validation_error"
            assert "0x00" in response.json()["error"]["message"]
        assert await _counts(store) == before


@pytest.mark.parametrize(
    "value",
    [
        "9999-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",
        # Inside the years as written, outside them in UTC.
        "1000-01-01T00:00:00+01:00",
        "8999-12-31T23:59:59-01:00",
    ],
)
async def test_query_times_outside_the_years_kept_are_a_422_naming_the_parameter(
    store: Store, value: str
) -> None:
    """Metric reads check their times as ``created_since`` on ``/tasks`` does: they used to
    answer 200 ``[]`` or a 422 naming nothing. (The run timeline's cursors keep their own
    rule: their end sentinel is 9000-01-01.)"""
    task = await store.tasks.create(title="times")
    queries = [
        ("/metrics/series", {"task_id": str(task.id), "name": "loss"}, "since"),
        ("/metrics/series", {"task_id": str(task.id), "name": "loss"}, "until"),
        ("/metrics/summary", {"task_id": str(task.id)}, "since"),
        ("/metrics/summary", {"task_id": str(task.id)}, "until"),
    ]
    async with client_of(store) as api:
        for path, params, name in queries:
            answer = await api.get(path, params={**params, name: value})
            assert answer.status_code == 422, (path, name, answer.text)
            assert _code(answer, 422) == "validation_error"
            assert name in answer.text, (path, name, answer.text)


async def test_a_malformed_consistency_token_is_a_422_without_replicas_too(store: Store) -> None:
    """A client's broken read-your-writes token shows before replicas are added, not on the
    day they are: it used to pass unchecked when the server had none."""
    async with client_of(store) as api:
        refused = await api.get("/tasks", headers={"Flightlog-Consistency": "nope"})
        assert _code(refused, 422) == "validation_error"
        assert "Flightlog-Consistency" in refused.json()["error"]["message"]
        taken = await api.get("/tasks", headers={"Flightlog-Consistency": "0/16B3748"})
        assert taken.status_code == 200, taken.text

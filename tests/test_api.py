"""The HTTP API end to end on both dialects: the same rules as the Python API, as JSON."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from api_client import app_for, client_for, client_of
from flightlog.api import create_app
from flightlog.models import Event
from flightlog.store import Store


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    assert body["code"] == code
    assert isinstance(body["message"], str)
    assert body["message"]
    return body


async def _event_count(store: Store) -> int:
    async with store.reader() as s:
        return int(await s.scalar(select(func.count(Event.id))) or 0)


async def test_a_task_run_events_and_metrics_round_trip(store: Store) -> None:
    async with client_of(store) as api:
        created = await api.post(
            "/tasks", json={"input_prompt": "Build a todo app\nwith tests", "tags": ["web"]}
        )
        assert created.status_code == 201, created.text
        task = created.json()
        assert (task["title"], task["status"], task["tags"]) == (
            "Build a todo app",
            "PENDING",
            ["web"],
        )

        run = (await api.post(f"/tasks/{task['id']}/runs", json={"git_branch": "feat/todo"})).json()
        assert (run["run_number"], run["status"], run["git_branch"]) == (1, "RUNNING", "feat/todo")

        events = [
            {
                "event_type": "message",
                "task_id": task["id"],
                "run_id": run["id"],
                "content": f"e{i}",
            }
            for i in range(5)
        ]
        appended = await api.post("/events", json={"events": events})
        assert appended.status_code == 201, appended.text
        ids = appended.json()["ids"]
        assert len(ids) == 5
        assert ids == sorted(ids)

        first = (await api.get("/events", params={"run_id": run["id"], "limit": 3})).json()
        rest = (
            await api.get(
                "/events", params={"run_id": run["id"], "after_id": first["next_after_id"]}
            )
        ).json()
        seen = [e["id"] for e in first["items"] + rest["items"] if e["event_type"] == "MESSAGE"]
        assert seen == ids
        assert rest["next_after_id"] is None

        points = [{"name": "tokens", "value": v, "run_id": run["id"]} for v in (10, 30, 20)]
        recorded = await api.post("/metrics", json={"metrics": points})
        assert recorded.json() == {"recorded": 3}
        summary = (await api.get("/metrics/summary", params={"run_id": run["id"]})).json()
        assert summary["tokens"] == {
            "name": "tokens",
            "count": 3,
            "min": 10.0,
            "max": 30.0,
            "avg": 20.0,
            "last": 20.0,
        }
        series = (
            await api.get("/metrics/series", params={"name": "tokens", "run_id": run["id"]})
        ).json()
        assert [p["value"] for p in series] == [10.0, 30.0, 20.0]

        done = await api.post(f"/runs/{run['id']}/finish", json={"results": {"files": 3}})
        assert done.json()["status"] == "COMPLETED"
        after = (await api.get(f"/tasks/{task['id']}")).json()
        assert (after["status"], after["total_runs"], after["success_rate"]) == (
            "COMPLETED",
            1,
            100.0,
        )
        listed = (await api.get("/tasks", params={"status": "completed"})).json()
        assert task["id"] in [t["id"] for t in listed["items"]]


async def test_plan_approval_and_task_changes_over_http(store: Store) -> None:
    async with client_of(store) as api:
        task = (await api.post("/tasks", json={"title": "Plan first"})).json()
        run = (
            await api.post(
                f"/tasks/{task['id']}/runs",
                json={"plan": {"steps": ["design", "build"]}, "await_plan_approval": True},
            )
        ).json()
        assert run["status"] == "WAITING_APPROVAL"
        decided = await api.post(
            f"/runs/{run['id']}/plan-decision", json={"approve": True, "decided_by": "carol"}
        )
        assert (decided.json()["status"], decided.json()["plan_decided_by"]) == ("RUNNING", "carol")
        changed = await api.patch(f"/tasks/{task['id']}", json={"priority": 3})
        assert changed.json()["priority"] == 3
        cancelled = await api.post(f"/tasks/{task['id']}/cancel", json={"reason": "scope cut"})
        assert cancelled.json()["status"] == "CANCELLED"
        assert (await api.get(f"/runs/{run['id']}")).json()["status"] == "CANCELLED"
        assert (await api.delete(f"/tasks/{task['id']}")).status_code == 204
        _error(await api.get(f"/tasks/{task['id']}"), 404, "not_found")


async def test_a_queued_run_over_http(store: Store) -> None:
    async with client_of(store) as api:
        task = (await api.post("/tasks", json={"title": "queued"})).json()
        queued = await api.post(
            f"/tasks/{task['id']}/queued-runs", json={"input_context": {"seed": 1}}
        )
        assert queued.status_code == 201, queued.text
        run = queued.json()
        assert (run["status"], run["started_at"]) == ("PENDING", None)
        _error(await api.post(f"/tasks/{task['id']}/runs"), 409, "conflict")
        begun = (await api.post(f"/runs/{run['id']}/begin")).json()
        assert begun["status"] == "RUNNING"
        assert begun["started_at"] is not None
        body = _error(await api.post(f"/runs/{run['id']}/begin"), 409, "conflict")
        assert "only a queued (PENDING) run" in body["message"]


async def test_one_bad_event_rejects_the_batch_and_writes_nothing(store: Store) -> None:
    async with client_of(store) as api:
        task = (await api.post("/tasks", json={"title": "t"})).json()
        before = await _event_count(store)
        batch = [{"event_type": "LOG", "task_id": task["id"]}, {"event_type": "NOPE"}]
        body = _error(await api.post("/events", json={"events": batch}), 422, "validation_error")
        assert "#1" in body["message"]
        assert "event_type" in body["message"]
        too_big = [{"event_type": "LOG", "task_id": task["id"], "content": "x" * 2_000_000}]
        _error(await api.post("/events", json={"events": too_big}), 422, "validation_error")
        assert await _event_count(store) == before


@pytest.mark.parametrize(
    ("method", "path", "payload", "params"),
    [
        ("post", "/tasks", {"title": "t", "colour": "blue"}, None),
        ("post", "/tasks", {"title": ""}, None),
        ("post", "/tasks", {"title": "t", "priority": "high"}, None),
        ("get", "/tasks", None, {"limit": 0}),
        ("get", "/tasks", None, {"status": "SLEEPING"}),
        ("get", "/metrics/series", None, {"name": "x", "task_id": "not-a-uuid"}),
        ("get", "/metrics/summary", None, {"task_id": str(uuid.uuid4()), "since": "2026-01-01"}),
        ("post", "/metrics", {"metrics": [{"name": "x", "value": 1}]}, None),
        ("post", "/events", {"events": []}, None),
    ],
)
async def test_bad_input_is_a_422_with_one_error_shape(
    store: Store, method: str, path: str, payload: Any, params: Any
) -> None:
    async with client_of(store) as api:
        response = await api.request(method.upper(), path, json=payload, params=params)
    _error(response, 422, "validation_error")


async def test_another_customers_data_is_not_found(store: Store, other: Store) -> None:
    async with client_of(store) as mine, client_of(other) as theirs:
        task = (await mine.post("/tasks", json={"title": "mine"})).json()
        run = (await mine.post(f"/tasks/{task['id']}/runs")).json()
        _error(await theirs.get(f"/tasks/{task['id']}"), 404, "not_found")
        _error(await theirs.get(f"/runs/{run['id']}"), 404, "not_found")
        _error(await theirs.get("/events", params={"task_id": task["id"]}), 404, "not_found")
        write = {"events": [{"event_type": "LOG", "task_id": task["id"]}]}
        _error(await theirs.post("/events", json=write), 404, "not_found")
        _error(await theirs.post(f"/runs/{run['id']}/finish", json={}), 404, "not_found")
        listed = (await theirs.get("/tasks")).json()
        assert task["id"] not in [t["id"] for t in listed["items"]]
        assert (await mine.get(f"/runs/{run['id']}")).json()["status"] == "RUNNING"


async def test_an_illegal_transition_is_a_409_and_changes_nothing(store: Store) -> None:
    async with client_of(store) as api:
        task = (await api.post("/tasks", json={"title": "t"})).json()
        run = (await api.post(f"/tasks/{task['id']}/runs")).json()
        assert (
            await api.post(
                f"/runs/{run['id']}/finish", json={"status": "failed", "error_message": "boom"}
            )
        ).status_code == 200
        body = _error(
            await api.post(f"/runs/{run['id']}/finish", json={}), 409, "invalid_transition"
        )
        assert body["details"]["from_status"] == "FAILED"
        assert (await api.get(f"/runs/{run['id']}")).json()["error_message"] == "boom"


async def test_requests_need_a_valid_key(store: Store) -> None:
    app = app_for(store)
    for key in (None, "fl_00000000_" + "A" * 43, "not a key"):
        async with client_for(app, key) as api:
            response = await api.get("/tasks")
        _error(response, 401, "unauthenticated")
        assert response.headers["www-authenticate"] == "Bearer"
    async with client_for(app, None) as api:
        health = (await api.get("/health")).json()
    assert health["status"] == "ok"
    assert health["database"] == store.engine.dialect.name
    assert health["schema_revision"]


async def test_a_read_key_reads_but_cannot_write(store: Store) -> None:
    async with client_of(store, "read") as reader:
        assert (await reader.get("/tasks")).status_code == 200
        body = _error(await reader.post("/tasks", json={"title": "t"}), 403, "permission_denied")
        assert "write" in body["message"]
    assert (await store.tasks.list()).items == []


async def _refused_within(client: httpx.AsyncClient, seconds: float) -> httpx.Response:
    """The first answer to ``GET /tasks`` that is not a 200, waiting up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while (response := await client.get("/tasks")).status_code == 200:
        assert time.monotonic() < deadline, f"the key was still accepted after {seconds:.0f} s"
        await asyncio.sleep(0.02)
    return response


async def test_revocation_reaches_an_app_that_remembers_the_key(store: Store) -> None:
    created = await store.api_keys.create("revoked soon")
    # An hour of trust: only the revocation fingerprint can explain a quick refusal.
    cached = app_for(store, api_key_cache_seconds=3600)
    uncached = app_for(store, api_key_cache_seconds=0)
    async with client_for(cached, created.key) as slow, client_for(uncached, created.key) as fast:
        assert (await slow.get("/tasks")).status_code == 200
        assert (await fast.get("/tasks")).status_code == 200
        await store.api_keys.revoke(created.id)
        _error(await fast.get("/tasks"), 401, "unauthenticated")
        # The app that remembers the key reads the fingerprint again within a second.
        body = _error(await _refused_within(slow, 30), 401, "unauthenticated")
    assert "revoked" in body["message"]


async def test_forget_drops_remembered_keys_at_once(store: Store) -> None:
    created = await store.api_keys.create("forgotten")
    app = app_for(store, api_key_cache_seconds=3600)
    async with client_for(app, created.key) as api:
        assert (await api.get("/tasks")).status_code == 200
        await store.api_keys.revoke(created.id)
        app.state.flightlog.keys.forget()
        body = _error(await api.get("/tasks"), 401, "unauthenticated")
    assert "revoked" in body["message"]


async def test_a_suspension_reaches_an_app_that_remembers_the_key(store: Store) -> None:
    created = await store.api_keys.create("suspended soon")
    app = app_for(store, api_key_cache_seconds=3600)
    async with client_for(app, created.key) as api:
        assert (await api.get("/tasks")).status_code == 200
        await store.customers.suspend(reason="unpaid")
        body = _error(await _refused_within(api, 30), 401, "unauthenticated")
        assert "SUSPENDED" in body["message"].upper()
        await store.customers.reactivate()
        # Not remembered while refused: accepted again at once.
        assert (await api.get("/tasks")).status_code == 200


async def test_an_unexpected_failure_is_a_json_500_without_internals(store: Store) -> None:
    # An app of its own (not app_for's, which later tests take again): a route is added.
    app = create_app(store.settings, engine=store.engine, connection=store.connection)

    async def broken() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    app.add_api_route("/api/v1/broken", broken)
    async with client_for(app, None, raise_app_exceptions=False) as api:
        response = await api.get("/broken")
    _error(response, 500, "internal_error")
    assert "hunter2" not in response.text

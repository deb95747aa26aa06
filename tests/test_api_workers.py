"""The worker side of the HTTP API: claims, agent steps, the agent registry, artifacts."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from api_client import client_of
from api_client import error_code as _code
from api_client import ok as _ok
from flightlog.store import Store


async def test_a_worker_claims_reports_its_agents_and_completes(store: Store) -> None:
    async with client_of(store) as api:
        task = _ok(await api.post("/tasks", json={"title": "ship it", "priority": 5}), 201)
        [claim] = _ok(await api.post("/claims", json={"worker": "w1", "lease_seconds": 60}))
        assert (claim["task_id"], claim["worker"]) == (task["id"], "w1")
        assert _ok(await api.post("/claims", json={"worker": "w2"})) == []

        step = _ok(
            await api.post(f"/runs/{claim['run_id']}/agent-runs", json={"agent_name": "Engineer"}),
            201,
        )
        _ok(await api.post(f"/agent-runs/{step['id']}/running"))
        usage = {"tokens_in": 1200, "tokens_out": 300, "cost_usd": "0.0042"}
        _ok(await api.post(f"/agent-runs/{step['id']}/usage", json=usage))
        done = _ok(
            await api.post(
                f"/agent-runs/{step['id']}/finish",
                json={"output_summary": "wrote the code", "tokens_in": 100},
            )
        )
        assert (done["status"], done["tokens_in"], done["cost_usd"]) == (
            "COMPLETED",
            1300,
            "0.004200",
        )

        lease = _ok(
            await api.post(
                "/claims/heartbeat",
                json={"task_id": task["id"], "worker": "w1", "lease_seconds": 600},
            )
        )
        assert lease["lease_expires_at"] > claim["lease_expires_at"]
        stolen = {**claim, "worker": "w2"}
        assert _code(await api.post("/claims/complete", json={"claim": stolen}), 409) == "conflict"
        run = _ok(await api.post("/claims/complete", json={"claim": claim, "results": {"ok": 1}}))
        assert (run["status"], run["tokens_in"]) == ("COMPLETED", 1300)
        after = _ok(await api.get(f"/tasks/{task['id']}"))
        assert (after["status"], after["claimed_by"]) == ("COMPLETED", None)
        steps = _ok(await api.get(f"/runs/{claim['run_id']}/agent-runs"))
        assert [s["agent_name"] for s in steps] == ["Engineer"]


async def test_a_released_claim_gives_the_task_back(store: Store) -> None:
    async with client_of(store) as api:
        task = _ok(await api.post("/tasks", json={"title": "later"}), 201)
        [claim] = _ok(await api.post("/claims", json={"worker": "w1"}))
        released = await api.post("/claims/release", json={"claim": claim, "reason": "shutdown"})
        assert released.status_code == 204
        assert _ok(await api.get(f"/runs/{claim['run_id']}"))["status"] == "CANCELLED"
        assert _ok(await api.get(f"/tasks/{task['id']}"))["status"] == "PENDING"
        [again] = _ok(await api.post("/claims", json={"worker": "w2"}))
        assert again["task_id"] == task["id"]
        assert again["run_id"] != claim["run_id"]


async def test_agents_register_idempotently_and_report_derived_health(store: Store) -> None:
    async with client_of(store) as api:
        body = {"name": "qa-bot", "agent_type": "qa", "capabilities": ["pytest"]}
        first = _ok(await api.post("/agents", json=body))
        again = _ok(await api.post("/agents", json={**body, "version": "2"}))
        assert again["id"] == first["id"]
        assert (again["version"], first["status"]) == ("2", "STARTING")
        beat = _ok(await api.post(f"/agents/{first['id']}/heartbeat"))
        assert beat["status"] == "HEALTHY"
        healthy = _ok(
            await api.get("/agents", params={"status": "healthy", "capability": "pytest"})
        )
        assert [a["id"] for a in healthy] == [first["id"]]
        assert _ok(await api.get("/agents", params={"status": "failed"})) == []
        assert (
            _code(await api.post("/agents", json={"name": "x", "agent_type": "wizard"}), 422)
            == "validation_error"
        )


async def test_artifacts_upload_versions_and_verified_download(store: Store, other: Store) -> None:
    async with client_of(store) as api, client_of(other) as stranger:
        task = _ok(await api.post("/tasks", json={"title": "docs"}), 201)
        path = f"/tasks/{task['id']}/artifacts/docs/prd.md"
        headers = {"Content-Type": "text/markdown"}
        v1 = _ok(
            await api.put(
                path, content=b"# PRD v1", headers=headers, params={"artifact_type": "document"}
            ),
            201,
        )
        big = b"x" * (store.settings.inline_artifact_max_bytes + 1)
        v2 = _ok(await api.put(path, content=big, headers=headers), 201)
        assert (v1["name"], v1["version"], v2["version"]) == ("docs/prd.md", 1, 2)
        assert v1["sha256"] == hashlib.sha256(b"# PRD v1").hexdigest()
        assert v1["artifact_type"] == "DOCUMENT"

        first = await api.get(f"/artifacts/{v1['id']}/content", params={"download": True})
        assert first.content == b"# PRD v1"
        assert first.headers["content-type"].startswith("text/markdown")
        assert first.headers["etag"] == f'"{v1["sha256"]}"'
        assert first.headers["content-disposition"] == "attachment; filename*=utf-8''prd.md"
        assert (await api.get(f"/artifacts/{v2['id']}/content")).content == big
        latest = _ok(await api.get(f"/tasks/{task['id']}/artifacts"))
        assert [(a["name"], a["version"]) for a in latest] == [("docs/prd.md", 2)]
        versions = _ok(await api.get(f"{path}/versions"))
        assert [a["version"] for a in versions] == [1, 2]

        assert _code(await stranger.get(f"/artifacts/{v1['id']}/content"), 404) == "not_found"
        assert _code(await stranger.put(path, content=b"mine now"), 404) == "not_found"
        assert len(_ok(await api.get(f"{path}/versions"))) == 2


async def test_a_runs_timeline_pages_through_agent_steps_and_events(store: Store) -> None:
    async with client_of(store) as api:
        task = _ok(await api.post("/tasks", json={"title": "timeline"}), 201)
        run = _ok(await api.post(f"/tasks/{task['id']}/runs"), 201)
        for name in ("Architect", "Engineer"):
            _ok(await api.post(f"/runs/{run['id']}/agent-runs", json={"agent_name": name}), 201)
            events = [
                {"event_type": "log", "run_id": run["id"], "content": f"{name} step {i}"}
                for i in range(3)
            ]
            _ok(await api.post("/events", json={"events": events}), 201)
        seen: list[str] = []
        params: dict[str, Any] = {"limit": 3}
        while True:
            page = _ok(await api.get(f"/runs/{run['id']}/timeline", params=params))
            for entry in page["entries"]:
                item = entry["agent_run"] or entry["event"]
                seen.append(item.get("agent_name") or item["content"])
            if page["next"] is None:
                break
            cursor = page["next"]
            params = {
                "limit": 3,
                "after_at": cursor["at"],
                "after_kind": cursor["kind"],
                "after_key": cursor["key"],
            }
        steps = [s for s in seen if s in ("Architect", "Engineer")]
        assert steps == ["Architect", "Engineer"]
        assert [s for s in seen if s.startswith("Engineer step")] == [
            "Engineer step 0",
            "Engineer step 1",
            "Engineer step 2",
        ]
        assert len(seen) == len(set(seen))
        half = await api.get(f"/runs/{run['id']}/timeline", params={"after_kind": "event"})
        assert _code(half, 422) == "validation_error"


async def test_a_deregistered_agent_is_stopped_not_failed(store: Store) -> None:
    async with client_of(store) as api:
        agent = _ok(await api.post("/agents", json={"name": "bot", "agent_type": "engineer"}))
        _ok(await api.post(f"/agents/{agent['id']}/heartbeat"))
        stopped = _ok(
            await api.post(f"/agents/{agent['id']}/deregister", json={"reason": "scaled down"})
        )
        assert stopped["status"] == "STOPPED"
        assert [a["id"] for a in _ok(await api.get("/agents", params={"status": "stopped"}))] == [
            agent["id"]
        ]


def _sse(text: str) -> list[dict[str, str]]:
    messages = []
    for block in text.split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if ": " in line and line[0] != ":"
        )
        if "id" in fields:
            messages.append(fields)
    return messages


async def test_the_event_stream_delivers_each_event_once_and_resumes(
    store: Store, other: Store
) -> None:
    async with client_of(store) as api, client_of(other) as stranger:
        task = _ok(await api.post("/tasks", json={"title": "live"}), 201)
        events = [
            {"event_type": "message", "task_id": task["id"], "content": f"m{i}"} for i in range(3)
        ]
        ids = _ok(await api.post("/events", json={"events": events}), 201)["ids"]
        params = {"task_id": task["id"], "timeout_seconds": 0.5, "poll_seconds": 0.25}
        first = await api.get("/events/stream", params=params)
        assert first.headers["content-type"].startswith("text/event-stream")
        got = [m for m in _sse(first.text) if m["event"] == "MESSAGE"]
        assert [int(m["id"]) for m in got] == ids
        assert [json.loads(m["data"])["content"] for m in got] == ["m0", "m1", "m2"]
        resumed = await api.get(
            "/events/stream", params=params, headers={"Last-Event-ID": str(ids[1])}
        )
        assert [int(m["id"]) for m in _sse(resumed.text)] == [ids[2]]
        assert _code(await stranger.get("/events/stream", params=params), 404) == "not_found"
        # A header that is not a plain number is ignored rather than a crash.
        odd = await api.get(
            "/events/stream", params=params, headers={"Last-Event-ID": "²".encode("latin-1")}
        )
        assert odd.status_code == 200
        assert [int(m["id"]) for m in _sse(odd.text) if m["event"] == "MESSAGE"] == ids

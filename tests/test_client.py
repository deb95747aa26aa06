"""``flightlog.client.Client`` against the real app: the same calls and errors as the Store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest

from api_client import app_for
from flightlog import InvalidTransition, NotFound, PermissionDenied, ValidationError
from flightlog.client import Client
from flightlog.store import Store


def _client(store: Store, key: str) -> Client:
    transport = httpx.ASGITransport(app=app_for(store))
    return Client("http://flightlog.test", key, transport=transport)


async def test_a_remote_worker_does_a_whole_run_through_the_client(store: Store) -> None:
    key = (await store.api_keys.create("worker")).key
    async with _client(store, key) as fl:
        task = await fl.create_task(title="Remote work", tags=["remote"])
        [claim] = await fl.claim("remote-1", lease_seconds=60)
        assert claim.task_id == task["id"]
        then = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
        ids = await fl.append_events(
            [
                {"event_type": "message", "task_id": uuid.UUID(task["id"]), "content": "hello"},
                {"event_type": "log", "run_id": claim.run_id, "created_at": then},
            ]
        )
        assert len(ids) == 2
        page = await fl.list_events(run_id=claim.run_id)
        assert then.isoformat().replace("+00:00", "Z") in [e["created_at"] for e in page["items"]]
        assert (
            await fl.record_metrics([{"name": "tokens", "value": 12, "run_id": claim.run_id}]) == 1
        )
        assert await fl.heartbeat(claim, lease_seconds=120) > claim.lease_expires_at
        run = await fl.complete(claim, results={"files": 2})
        assert run["status"] == "COMPLETED"
        assert (await fl.get_task(task["id"]))["status"] == "COMPLETED"

        queued = await fl.enqueue_run(task["id"], input_context={"again": True})
        assert queued["status"] == "PENDING"
        [second] = await fl.claim("remote-2")
        assert second.run_id == queued["id"]
        await fl.release(second, reason="shutting down")
        assert (await fl.get_task(task["id"]))["status"] == "PENDING"


async def test_server_errors_arrive_as_the_same_exception_classes(
    store: Store, other: Store
) -> None:
    key = (await store.api_keys.create("client")).key
    theirs = await other.tasks.create(title="theirs")
    async with _client(store, key) as fl:
        with pytest.raises(NotFound):
            await fl.get_task(theirs.id)
        with pytest.raises(ValidationError, match="#1") as bad:
            await fl.append_events([{"event_type": "LOG"}, {"event_type": "LOUD"}])
        assert bad.value.details["index"] == 1
        assert bad.value.details["http_status"] == 422
        task = await fl.create_task(title="t")
        run = await fl.start_run(task["id"])
        await fl.finish_run(run["id"], status="failed", error_message="boom")
        with pytest.raises(InvalidTransition) as moved:
            await fl.finish_run(run["id"])
        assert (moved.value.from_status, moved.value.to_status) == ("FAILED", "COMPLETED")
    async with _client(store, "fl_00000000_" + "A" * 43) as stranger:
        with pytest.raises(PermissionDenied, match="invalid API key"):
            await stranger.list_tasks()

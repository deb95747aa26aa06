"""Times a caller measured itself: a run's and an agent run's start and end, given, not stamped.

A tracer that sends after the fact (batched, or after an outage) and a replay
of history give the times they saw; durations, the audit events and the
timeline then say when things happened. Bad times are refused and change
nothing. Both dialects; the Store and the HTTP API.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from api_client import app_for, client_of, error_code, ok
from flightlog import AgentRunStatus, RunStatus, TaskStatus, ValidationError
from flightlog.client import AsyncClient
from flightlog.models import Event, TaskRun
from flightlog.store import Store, SyncStore

T0 = datetime(2026, 3, 1, 9, 0, 0, tzinfo=UTC)


async def _events(store: Store, run_id: uuid.UUID) -> list[Event]:
    async with store.reader() as s:
        rows = await s.scalars(select(Event).where(Event.run_id == run_id).order_by(Event.id))
        return list(rows)


async def test_a_run_and_its_agent_runs_keep_the_times_the_caller_measured(store: Store) -> None:
    task = await store.tasks.create(title="replayed")
    run = await store.runs.start(task.id, started_at=T0)
    architect = await store.agent_runs.start(
        run.id, agent_name="Architect", started_at=T0 + timedelta(seconds=5)
    )
    finished_step = await store.agent_runs.finish(
        architect.id, finished_at=T0 + timedelta(seconds=65), output_summary="design"
    )
    finished = await store.runs.finish(
        run.id, status=RunStatus.COMPLETED, completed_at=T0 + timedelta(minutes=3)
    )

    assert (finished.started_at, finished.completed_at) == (T0, T0 + timedelta(minutes=3))
    assert finished.duration_seconds == 180.0
    assert finished_step.started_at == T0 + timedelta(seconds=5)
    assert finished_step.finished_at == T0 + timedelta(seconds=65)
    assert finished_step.duration_seconds == 60.0
    stored = await store.tasks.get(task.id)
    assert stored.status is TaskStatus.COMPLETED
    assert (stored.started_at, stored.completed_at) == (T0, T0 + timedelta(minutes=3))

    # The audit trail says when, too, so the timeline orders by what happened.
    stamped = {
        (e.event_type.value, (e.data or {}).get("to", (e.data or {}).get("status"))): e.created_at
        for e in await _events(store, run.id)
    }
    assert stamped[("STATUS_CHANGE", "RUNNING")] == T0
    assert stamped[("AGENT_START", None)] == T0 + timedelta(seconds=5)
    assert stamped[("AGENT_COMPLETE", "COMPLETED")] == T0 + timedelta(seconds=65)
    assert stamped[("STATUS_CHANGE", "COMPLETED")] == T0 + timedelta(minutes=3)


async def test_without_times_the_server_clock_is_used_as_before(store: Store) -> None:
    before = datetime.now(UTC)
    task = await store.tasks.create(title="live")
    run = await store.runs.start(task.id)
    step = await store.agent_runs.start(run.id, agent_name="Engineer")
    step = await store.agent_runs.finish(step.id)
    run = await store.runs.finish(run.id)
    after = datetime.now(UTC)
    assert run.started_at is not None
    assert run.completed_at is not None
    assert before <= run.started_at <= run.completed_at <= after
    assert step.finished_at is not None
    assert before <= step.started_at <= step.finished_at <= after


@pytest.mark.parametrize(
    ("when", "message"),
    [
        (datetime(2026, 3, 1, 9, 0, 0), "timezone-aware"),
        (datetime(9500, 1, 1, tzinfo=UTC), "between"),
    ],
)
async def test_a_bad_start_time_is_refused_and_nothing_is_written(
    store: Store, when: datetime, message: str
) -> None:
    task = await store.tasks.create(title="bad start")
    with pytest.raises(ValidationError, match=message) as refused:
        await store.runs.start(task.id, started_at=when)
    assert refused.value.details["field"] == "started_at"
    assert (await store.runs.list(task.id)) == []
    assert (await store.tasks.get(task.id)).status is TaskStatus.PENDING


async def test_an_end_before_the_start_is_refused_and_the_run_stays_open(store: Store) -> None:
    task = await store.tasks.create(title="time travel")
    run = await store.runs.start(task.id, started_at=T0)
    step = await store.agent_runs.start(run.id, agent_name="Tester", started_at=T0)
    with pytest.raises(ValidationError, match="before the start"):
        await store.agent_runs.finish(step.id, finished_at=T0 - timedelta(seconds=1))
    with pytest.raises(ValidationError, match="before the start") as refused:
        await store.runs.finish(run.id, completed_at=T0 - timedelta(hours=1))
    assert refused.value.details["field"] == "completed_at"  # named for the caller's form
    assert (await store.runs.get(run.id)).status is RunStatus.RUNNING
    [still] = await store.agent_runs.list(run.id)
    assert still.status is AgentRunStatus.STARTED
    assert still.finished_at is None


async def test_times_travel_over_http_and_bad_ones_are_422(store: Store) -> None:
    async with client_of(store) as api:
        task = ok(await api.post("/tasks", json={"title": "remote replay"}), 201)
        run = ok(
            await api.post(
                f"/tasks/{task['id']}/runs", json={"started_at": "2026-03-01T09:00:00Z"}
            ),
            201,
        )
        naive = await api.post(
            f"/runs/{run['id']}/agent-runs",
            json={"agent_name": "PM", "started_at": "2026-03-01T09:00:05"},
        )
        assert error_code(naive, 422) == "validation_error"
        step = ok(
            await api.post(
                f"/runs/{run['id']}/agent-runs",
                json={"agent_name": "PM", "started_at": "2026-03-01T09:00:05+00:00"},
            ),
            201,
        )
        ok(
            await api.post(
                f"/agent-runs/{step['id']}/finish",
                json={"finished_at": "2026-03-01T09:01:05Z"},
            )
        )
        early = await api.post(
            f"/runs/{run['id']}/finish", json={"completed_at": "2026-03-01T08:00:00Z"}
        )
        assert error_code(early, 422) == "validation_error"
        done = ok(
            await api.post(
                f"/runs/{run['id']}/finish", json={"completed_at": "2026-03-01T09:03:00Z"}
            )
        )
    assert done["duration_seconds"] == 180.0
    async with store.reader() as s:
        stored = await s.get(TaskRun, uuid.UUID(run["id"]))
    assert stored is not None
    assert stored.started_at == T0
    [agent_run] = await store.agent_runs.list(stored.id)
    assert agent_run.duration_seconds == 60.0


async def test_values_of_the_wrong_kind_are_validation_errors(store: Store) -> None:
    """A time as text, an unknown status or type: ValidationError naming it, nothing written."""
    task = await store.tasks.create(title="kinds")
    with pytest.raises(ValidationError, match="started_at must be a timezone-aware datetime"):
        await store.runs.start(task.id, started_at="2026-03-01T09:00:00Z")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="agent_type must be one of"):
        await store.runs.start(task.id, agent_type="BOGUS")
    run = await store.runs.start(task.id)
    with pytest.raises(ValidationError, match="status must be one of"):
        await store.runs.finish(run.id, status="DONE")  # type: ignore[arg-type]
    step = await store.agent_runs.start(run.id, agent_name="A")
    with pytest.raises(ValidationError, match="status must be one of"):
        await store.agent_runs.finish(step.id, status="DONE")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="artifact_type must be one of"):
        await store.artifacts.put(task.id, "x.md", b"x", artifact_type="BOGUS")
    with pytest.raises(ValidationError, match="status must be one of"):
        await store.tasks.list(status="NOPE")  # type: ignore[arg-type]
    assert (await store.runs.get(run.id)).status is RunStatus.RUNNING
    assert len(await store.runs.list(task.id)) == 1
    assert await store.artifacts.latest(task.id) == []


async def test_times_stay_consistent_with_each_other_and_the_clock(store: Store) -> None:
    task = await store.tasks.create(title="consistent")
    with pytest.raises(ValidationError, match="in the future"):
        await store.runs.start(task.id, started_at=datetime.now(UTC) + timedelta(days=365))
    ahead = datetime.now(UTC) + timedelta(minutes=2)  # a caller whose clock runs ahead
    run = await store.runs.start(task.id, started_at=ahead)
    with pytest.raises(ValidationError, match="before the start"):
        await store.agent_runs.start(run.id, agent_name="early", started_at=ahead - timedelta(1))
    step = await store.agent_runs.start(run.id, agent_name="on time", started_at=ahead)
    step = await store.agent_runs.finish(step.id)  # the server's clock is behind the start
    run = await store.runs.finish(run.id)
    assert step.finished_at == ahead
    assert step.duration_seconds == 0.0
    assert run.completed_at == ahead
    assert run.duration_seconds == 0.0


async def test_seed000_a_run_records_the_duration_its_caller_measured(store: Store) -> None:
    """MGX's ``TaskRun(duration=120.5)``: a duration alone ends the run at start + duration."""
    task = await store.tasks.create(title="Market Analysis")
    run = await store.runs.start(task.id, started_at=T0)
    done = await store.runs.finish(run.id, duration_seconds=120.5)
    assert done.duration_seconds == 120.5
    assert done.completed_at == T0 + timedelta(seconds=120.5)
    assert (await store.tasks.get(task.id)).completed_at == T0 + timedelta(seconds=120.5)
    # All three given and consistent (a monotonic clock may differ by under a millisecond).
    second = await store.runs.start(task.id, started_at=T0 + timedelta(hours=1))
    end = T0 + timedelta(hours=1, seconds=60)
    failed = await store.runs.fail(
        second.id, error_message="boom", completed_at=end, duration_seconds=60.0004
    )
    assert (failed.completed_at, failed.duration_seconds) == (end, 60.0004)
    stats = await store.tasks.get(task.id)
    assert (stats.total_runs, stats.failed_runs) == (2, 1)
    assert stats.avg_duration_seconds == pytest.approx((120.5 + 60.0004) / 2)


@pytest.mark.parametrize(
    ("completed_after", "duration", "message"),
    [
        (None, -1.0, "duration_seconds cannot be negative"),
        (None, float("nan"), "duration_seconds must be a finite number"),
        (None, float("inf"), "duration_seconds must be a finite number"),
        (None, "60", "duration_seconds must be a finite number"),
        (None, True, "duration_seconds must be a finite number"),
        (timedelta(seconds=180), 100.0, "duration_seconds .* does not match completed_at"),
        (timedelta(seconds=180), 180.01, "duration_seconds .* does not match completed_at"),
    ],
)
async def test_seed000_a_duration_that_contradicts_the_times_is_refused(
    store: Store, completed_after: timedelta | None, duration: object, message: str
) -> None:
    task = await store.tasks.create(title="contradiction")
    run = await store.runs.start(task.id, started_at=T0)
    completed_at = T0 + completed_after if completed_after is not None else None
    with pytest.raises(ValidationError, match=message):
        await store.runs.finish(
            run.id,
            completed_at=completed_at,
            duration_seconds=duration,  # type: ignore[arg-type]
        )
    unchanged = await store.runs.get(run.id)
    assert unchanged.status is RunStatus.RUNNING
    assert (unchanged.completed_at, unchanged.duration_seconds) == (None, None)


async def test_seed000_a_duration_ending_in_the_future_is_refused(store: Store) -> None:
    task = await store.tasks.create(title="too long")
    run = await store.runs.start(task.id)
    with pytest.raises(ValidationError, match=r"duration_seconds .* ends in the future"):
        await store.runs.finish(run.id, duration_seconds=86_400.0)
    with pytest.raises(ValidationError, match="duration_seconds"):
        await store.runs.finish(run.id, duration_seconds=1e300)
    assert (await store.runs.get(run.id)).status is RunStatus.RUNNING


async def test_seed000_measured_times_and_duration_over_http_and_the_client(store: Store) -> None:
    """The route and the typed client take duration_seconds; a bad one is a 422 naming it."""
    async with client_of(store) as api:
        task = ok(await api.post("/tasks", json={"title": "timed remotely"}), 201)
        run = ok(
            await api.post(
                f"/tasks/{task['id']}/runs", json={"started_at": "2026-03-01T09:00:00Z"}
            ),
            201,
        )
        for bad in (
            {"duration_seconds": -1},
            {"duration_seconds": "soon"},
            {"duration_seconds": 10, "completed_at": "2026-03-01T09:03:00Z"},
            {"completed_at": "2026-03-01T09:03:00"},
        ):
            refused = await api.post(f"/runs/{run['id']}/finish", json=bad)
            assert error_code(refused, 422) == "validation_error"
            field = "duration_seconds" if "duration_seconds" in bad else "completed_at"
            assert field in refused.text
        done = ok(
            await api.post(
                f"/runs/{run['id']}/finish",
                json={"completed_at": "2026-03-01T09:03:00Z", "duration_seconds": 180},
            )
        )
        assert (done["duration_seconds"], done["completed_at"]) == (180.0, "2026-03-01T09:03:00Z")

    key = (await store.api_keys.create("client")).key
    transport = httpx.ASGITransport(app=app_for(store))
    async with AsyncClient("http://flightlog.test", key, transport=transport) as fl:
        task_out = await fl.tasks.create(title="timed by the client")
        started = await fl.runs.start(task_out.id, started_at=T0)
        with pytest.raises(ValidationError, match="duration_seconds"):
            await fl.runs.finish(started.id, completed_at=T0, duration_seconds=5.0)
        finished = await fl.runs.finish(started.id, duration_seconds=42.25)
    assert finished.duration_seconds == 42.25
    assert finished.completed_at == T0 + timedelta(seconds=42.25)


def test_seed000_the_sync_store_records_a_measured_duration(sync_store: SyncStore) -> None:
    task = sync_store.tasks.create(title="sync timing")
    run = sync_store.runs.start(task.id, started_at=T0)
    with pytest.raises(ValidationError, match="timezone-aware"):
        sync_store.runs.finish(run.id, completed_at=datetime(2026, 3, 1, 9, 5))
    done = sync_store.runs.finish(run.id, duration_seconds=7.5)
    assert (done.completed_at, done.duration_seconds) == (T0 + timedelta(seconds=7.5), 7.5)

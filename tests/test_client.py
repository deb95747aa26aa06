"""``flightlog.client.AsyncClient`` against the real app: the Store's calls, its errors, the API's
models; tasks, runs, agent runs, events (and their live stream), metrics, artifacts, claims and
agents, on both databases."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from api_client import app_for
from flightlog import (
    NotFound,
)
from flightlog.client import AsyncClient
from flightlog.enums import (
    AgentRunStatus,
    AgentStatus,
    AgentType,
    ArtifactType,
    EventSeverity,
    EventType,
    RunStatus,
    TaskStatus,
)
from flightlog.schemas.events import EventOut
from flightlog.schemas.tasks import TaskOut, TaskPageOut
from flightlog.services.events import NewEvent
from flightlog.services.metrics import NewMetric
from flightlog.store import Store


@asynccontextmanager
async def client_for(store: Store, **setting_changes: object) -> AsyncIterator[AsyncClient]:
    """An ``AsyncClient`` with a new key of the store's customer, on the app in this process."""
    key = (await store.api_keys.create("client")).key
    transport = httpx.ASGITransport(app=app_for(store, **setting_changes))
    async with AsyncClient("http://flightlog.test", key, transport=transport) as fl:
        yield fl


async def test_a_remote_worker_does_a_whole_run_through_the_client(store: Store) -> None:
    async with client_for(store) as fl:
        task = await fl.tasks.create(title="Remote work", tags=["remote"], max_rounds=3)
        assert isinstance(task, TaskOut)
        assert (task.status, task.tags, task.max_rounds) == (TaskStatus.PENDING, ["remote"], 3)
        [claim] = await fl.claims.claim("remote-1", lease_seconds=60)
        assert claim.task_id == task.id
        then = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
        ids = await fl.events.append_batch(
            [
                NewEvent(event_type=EventType.MESSAGE, task_id=task.id, content="hello"),
                {"event_type": "log", "run_id": claim.run_id, "created_at": then},
            ]
        )
        assert len(ids) == 2
        page = await fl.events.list(run_id=claim.run_id, event_types=[EventType.LOG])
        assert [e.id for e in page.items] == ids[1:]
        assert page.items[0].created_at == then
        recorded = await fl.metrics.record_batch(
            [
                NewMetric(name="tokens", value=12, run_id=claim.run_id),
                {"name": "x", "value": 1, "task_id": task.id},
            ]
        )
        assert recorded == 2
        assert await fl.claims.heartbeat(task.id, "remote-1", lease_seconds=120) > (
            claim.lease_expires_at
        )
        run = await fl.claims.complete(claim, results={"files": 2})
        assert (run.status, run.results) == (RunStatus.COMPLETED, {"files": 2})
        assert (await fl.tasks.get(task.id)).status == TaskStatus.COMPLETED

        queued = await fl.runs.enqueue(task.id, input_context={"again": True})
        assert queued.status == RunStatus.PENDING
        [second] = await fl.claims.claim("remote-2")
        assert second.run_id == queued.id
        await fl.claims.release(second, reason="shutting down")
        assert (await fl.tasks.get(task.id)).status == TaskStatus.PENDING


async def test_tasks_are_created_changed_paged_cancelled_and_deleted(store: Store) -> None:
    async with client_for(store) as fl:
        task = await fl.tasks.create(
            input_prompt="Write the docs\nall of them", description="d", priority=3
        )
        assert (task.title, task.description, task.priority) == ("Write the docs", "d", 3)
        changed = await fl.tasks.update(task.id, memory_size=7, tags=["docs"])
        assert (changed.memory_size, changed.tags, changed.description) == (7, ["docs"], "d")
        cleared = await fl.tasks.update(task.id, description=None)  # None clears, left out keeps
        assert (cleared.description, cleared.tags) == (None, ["docs"])
        others = [
            await fl.tasks.create(title=f"t{i}", depends_on=iter([task.id])) for i in range(3)
        ]

        first = await fl.tasks.list(limit=2)
        assert isinstance(first, TaskPageOut)
        assert first.next_cursor is not None
        rest = await fl.tasks.list(limit=2, cursor=first.next_cursor)
        seen = [t.id for t in first.items + rest.items]
        assert sorted(seen) == sorted([task.id, *(t.id for t in others)])
        cancelled = await fl.tasks.cancel(others[0].id, reason="not needed", actor="ann")
        assert cancelled.status == TaskStatus.CANCELLED
        only = await fl.tasks.list(status=[TaskStatus.CANCELLED], tag=None)
        assert [t.id for t in only.items] == [others[0].id]
        assert (await fl.tasks.list(status=TaskStatus.PENDING, tag="docs")).items == [cleared]

        await fl.tasks.delete(others[1].id)
        with pytest.raises(NotFound):
            await fl.tasks.get(others[1].id)


async def test_runs_start_queue_decide_plans_finish_and_read_a_timeline(store: Store) -> None:
    async with client_for(store) as fl:
        task = await fl.tasks.create(title="runs")
        waiting = await fl.runs.start(task.id, plan={"steps": ["a"]}, await_plan_approval=True)
        assert waiting.status == RunStatus.WAITING_APPROVAL
        approved = await fl.runs.approve_plan(waiting.id, decided_by="ann", comment="ok")
        assert (approved.status, approved.plan_decided_by) == (RunStatus.RUNNING, "ann")
        failed = await fl.runs.fail(approved.id, error_message="boom", cpu_time_ms=5)
        assert (failed.status, failed.error_message, failed.cpu_time_ms) == (
            RunStatus.FAILED,
            "boom",
            5,
        )

        second = await fl.runs.start(task.id, plan={"steps": []}, await_plan_approval=True)
        rejected = await fl.runs.reject_plan(second.id, decided_by="bob")
        assert rejected.status == RunStatus.CANCELLED
        third = await fl.runs.start(task.id, plan={"s": 1}, await_plan_approval=True)
        decided = await fl.runs.decide_plan(third.id, approve=True, decided_by="cy")
        assert (await fl.runs.timeout(decided.id)).status == RunStatus.TIMEOUT

        queued = await fl.runs.enqueue(task.id, git_branch="b")
        begun = await fl.runs.begin(queued.id)
        assert (begun.status, begun.git_branch) == (RunStatus.RUNNING, "b")
        assert (await fl.runs.cancel(begun.id, actor="ann")).status == RunStatus.CANCELLED
        last = await fl.runs.start(task.id)
        step = await fl.agent_runs.start(last.id, agent_name="Architect")
        await fl.events.append({"event_type": "log", "run_id": last.id, "content": "c"})
        done = await fl.runs.finish(last.id, results={"ok": True}, git_commit="abc")
        assert (done.status, done.git_commit) == (RunStatus.COMPLETED, "abc")
        assert await fl.runs.get(done.id) == done
        assert [r.run_number for r in await fl.runs.list(task.id)] == [1, 2, 3, 4, 5]

        page = await fl.runs.timeline(last.id, limit=2)
        assert len(page.entries) == 2
        assert page.next is not None
        more = await fl.runs.timeline(last.id, after=page.next)
        assert more.next is None
        entries = page.entries + more.entries
        assert [e.at for e in entries] == sorted(e.at for e in entries)
        assert [e.agent_run.id for e in entries if e.agent_run] == [step.id]
        assert "c" in [e.event.content for e in entries if e.event]


async def test_agent_runs_report_usage_and_finish(store: Store) -> None:
    async with client_for(store) as fl:
        task = await fl.tasks.create(title="agents at work")
        run = await fl.runs.start(task.id)
        lead = await fl.agent_runs.start(run.id, agent_name="Lead", details={"model": "m"})
        helper = await fl.agent_runs.start(run.id, agent_name="Helper", parent_id=lead.id)
        assert (await fl.agent_runs.running(lead.id)).status == AgentRunStatus.RUNNING
        used = await fl.agent_runs.record_usage(lead.id, tokens_in=10, cost_usd=Decimal("0.25"))
        assert (used.tokens_in, used.cost_usd) == (10, Decimal("0.25"))
        finished = await fl.agent_runs.finish(
            helper.id, status=AgentRunStatus.FAILED, error_message="stuck", tokens_out=3
        )
        assert (finished.status, finished.tokens_out) == (AgentRunStatus.FAILED, 3)
        assert [a.id for a in await fl.agent_runs.list(run.id)] == [lead.id, helper.id]
        assert (await fl.runs.get(run.id)).tokens_in == 10


async def test_events_append_one_or_many_and_filter_pages(store: Store) -> None:
    async with client_for(store) as fl:
        task = await fl.tasks.create(title="events")
        one = await fl.events.append(
            NewEvent(
                event_type=EventType.ERROR,
                task_id=task.id,
                severity=EventSeverity.ERROR,
                content="x",
            )
        )
        assert isinstance(one, EventOut)
        assert (one.event_type, one.content, one.task_id) == (EventType.ERROR, "x", task.id)
        ids = await fl.events.append_batch(
            {"event_type": "message", "task_id": task.id, "agent_role": "coder"} for _ in range(3)
        )
        page = await fl.events.list(task_id=task.id, after_id=one.id - 1, limit=2)
        assert [e.id for e in page.items] == [one.id, ids[0]]
        rest = await fl.events.list(task_id=task.id, after_id=page.next_after_id or 0)
        assert [e.id for e in rest.items] == ids[1:]
        assert rest.next_after_id is None
        errors = await fl.events.list(task_id=task.id, severities=[EventSeverity.ERROR])
        assert [e.id for e in errors.items] == [one.id]
        coder = await fl.events.list(event_types=[EventType.MESSAGE], agent_role="coder")
        assert [e.id for e in coder.items] == ids


async def test_the_event_stream_follows_and_reconnects_after_the_last_event(store: Store) -> None:
    async with client_for(store) as fl:
        task = await fl.tasks.create(title="live")
        [before] = await fl.events.append_batch([{"event_type": "log", "task_id": task.id}])
        received: list[int] = []
        stream = fl.events.stream(
            task_id=task.id, after_id=before - 1, poll_seconds=0.25, timeout_seconds=0.5
        )
        async with aclosing(stream) as events:
            async for event in events:
                received.append(event.id)
                if len(received) == 1:
                    # The in-process app answers a stream once it has ended: only a
                    # reconnection (after the last event id) can see these.
                    later = await fl.events.append_batch(
                        [{"event_type": "log", "task_id": task.id} for _ in range(2)]
                    )
                if len(received) == 3:
                    break
        assert received == [before, *later]
        # Without reconnecting, the iterator ends with the server's stream.
        once = fl.events.stream(
            task_id=task.id, after_id=later[0], timeout_seconds=0.3, reconnect=False
        )
        assert [event.id async for event in once] == later[1:]
        with pytest.raises(NotFound):
            await anext(fl.events.stream(task_id=uuid.uuid4(), reconnect=False))


async def test_metrics_are_recorded_and_read_as_series_and_summaries(store: Store) -> None:
    async with client_for(store) as fl:
        task = await fl.tasks.create(title="metrics")
        start = datetime(2026, 1, 1, tzinfo=UTC)
        points = [
            NewMetric(
                name="loss", value=v, task_id=task.id, recorded_at=start + timedelta(minutes=i)
            )
            for i, v in enumerate([3.0, 2.0, 1.0])
        ]
        assert (
            await fl.metrics.record_batch(
                [*points, {"name": "acc", "value": 0.5, "task_id": task.id}]
            )
            == 4
        )
        series = await fl.metrics.series(
            "loss", task_id=task.id, since=start + timedelta(minutes=1)
        )
        assert [p.value for p in series] == [2.0, 1.0]
        summary = await fl.metrics.summarize(task_id=task.id, names=["loss"])
        assert list(summary) == ["loss"]
        assert (summary["loss"].count, summary["loss"].min, summary["loss"].last) == (3, 1.0, 1.0)


async def test_artifacts_are_put_read_and_versioned(store: Store) -> None:
    async with client_for(store) as fl:
        task = await fl.tasks.create(title="files")
        run = await fl.runs.start(task.id)
        first = await fl.artifacts.put(
            task.id,
            "src/app.py",
            b"print(1)\n",
            content_type="text/x-python",
            artifact_type=ArtifactType.CODE,
            run_id=run.id,
            file_path="src/app.py",
        )
        assert (first.name, first.version, first.content_type) == ("src/app.py", 1, "text/x-python")
        second = await fl.artifacts.put(task.id, "src/app.py", b"print(2)\n")
        other = await fl.artifacts.put(task.id, "notes.md", b"")
        assert await fl.artifacts.read(first.id) == b"print(1)\n"
        assert await fl.artifacts.get(second.id) == second
        assert [a.version for a in await fl.artifacts.versions(task.id, "src/app.py")] == [1, 2]
        latest = await fl.artifacts.latest(task.id)
        assert {a.id for a in latest} == {second.id, other.id}


async def test_agents_register_heartbeat_and_deregister(store: Store) -> None:
    async with client_for(store) as fl:
        agent = await fl.agents.register(
            "coder-1", AgentType.ENGINEER, capabilities=iter(["python"]), role="coder"
        )
        again = await fl.agents.register(
            "coder-1", "ENGINEER", capabilities=["python"], version="2"
        )
        assert (again.id, again.version, again.status) == (agent.id, "2", AgentStatus.STARTING)
        beat = await fl.agents.heartbeat(agent.id)
        assert (beat.status, beat.last_heartbeat_at is not None) == (AgentStatus.HEALTHY, True)
        assert [a.id for a in await fl.agents.list(status=AgentStatus.HEALTHY)] == [agent.id]
        assert [a.id for a in await fl.agents.list(capability="python")] == [agent.id]
        stopped = await fl.agents.deregister(agent.id, actor="ops", reason="done")
        assert stopped.status == AgentStatus.STOPPED
        assert await fl.agents.get(agent.id) == stopped
        assert [a.id for a in await fl.agents.list(status=[AgentStatus.STOPPED])] == [agent.id]
        assert await fl.agents.list(agent_type=AgentType.QA) == []


async def test_health_answers_without_a_key_and_when_the_database_is_down(store: Store) -> None:
    async with client_for(store) as fl:
        health = await fl.health()
    assert (health.status, health.database) == ("ok", store.engine.dialect.name)

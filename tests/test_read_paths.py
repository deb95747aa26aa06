"""The hot read paths return exactly the rows a plain, unpaginated query returns.

Each read path pages with a keyset cursor (or merges two sources); here every
page is collected and compared with one straightforward SELECT.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import case, func, select

from flightlog import NotFound, RunStatus, Store, ValidationError
from flightlog.ingest import ingest_events, ingest_metrics
from flightlog.models import AgentRun, Customer, Event, MetricPoint, Task, TaskRun
from flightlog.services import metrics as metric_service
from flightlog.services.events import DEFAULT_MAX_PAYLOAD_BYTES
from flightlog.services.timeline import TimelineCursor, run_timeline

T0 = datetime(2030, 1, 1, tzinfo=UTC)


async def _ingest(store: Store, rows: list[dict[str, Any]]) -> None:
    async with store.transaction() as s:
        await s.run_sync(
            ingest_events, store.customer_id, DEFAULT_MAX_PAYLOAD_BYTES, rows, chunk_size=97
        )


async def _plain_ids(store: Store, **where: uuid.UUID) -> list[int]:
    stmt = select(Event.id).where(*(getattr(Event, k) == v for k, v in where.items()))
    async with store.reader() as s:
        return list((await s.scalars(stmt.order_by(Event.id))).all())


@pytest.mark.parametrize("scope", ["task_id", "run_id"])
async def test_event_pages_at_any_depth_match_a_plain_query(store: Store, scope: str) -> None:
    task = await store.tasks.create(title="events")
    other = await store.tasks.create(title="noise")
    runs = [await store.runs.start(task.id)]
    await store.runs.finish(runs[0].id)
    runs.append(await store.runs.start(task.id))
    rng = random.Random(5)
    rows = []
    for i in range(700):
        run = rng.choice(runs)
        target = {"task_id": task.id, "run_id": run.id} if i % 5 else {"task_id": other.id}
        rows.append({"event_type": "LOG", "content": f"e{i}", **target})
    await _ingest(store, rows)
    key = task.id if scope == "task_id" else runs[1].id
    expected = await _plain_ids(store, **{scope: key})
    assert len(expected) > 250

    seen: list[int] = []
    cursor = 0
    while True:
        page = await store.events.list(**{scope: key}, after_id=cursor, limit=rng.randint(1, 90))
        seen += [e.id for e in page.items]
        if page.next_after_id is None:
            break
        cursor = page.next_after_id
    assert seen == expected

    for depth in (0, 1, len(expected) // 2, len(expected) - 3):
        page = await store.events.list(**{scope: key}, after_id=expected[depth], limit=40)
        assert [e.id for e in page.items] == expected[depth + 1 : depth + 41]


async def test_task_list_with_statistics_matches_a_plain_query(store: Store) -> None:
    outcomes = [RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.TIMEOUT, RunStatus.CANCELLED]
    rng = random.Random(7)
    for i in range(13):
        task = await store.tasks.create(title=f"task {i}")
        for _ in range(rng.randint(0, 3)):
            run = await store.runs.start(task.id)
            status = rng.choice(outcomes)
            extra = {"error_message": "boom"} if status is RunStatus.FAILED else {}
            await store.runs.finish(run.id, status=status, **extra)
            if rng.random() < 0.5:
                break

    listed: list[tuple[Any, ...]] = []
    cursor = None
    while True:
        page = await store.tasks.list(limit=4, cursor=cursor)
        listed += [
            (t.id, t.title, t.total_runs, t.successful_runs, t.failed_runs, t.success_rate)
            for t in page.items
        ]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    ok = func.sum(case((TaskRun.status == "COMPLETED", 1), else_=0))
    bad = func.sum(case((TaskRun.status.in_(["FAILED", "TIMEOUT"]), 1), else_=0))
    stmt = (
        select(Task.id, Task.title, func.count(TaskRun.id), ok, bad)
        .outerjoin(TaskRun, TaskRun.task_id == Task.id)
        .where(Task.customer_id == store.customer_id)
        .group_by(Task.id, Task.title)
        .order_by(Task.id.desc())
    )
    async with store.reader() as s:
        plain = (await s.execute(stmt)).all()
    expected = [
        (tid, title, n, int(good or 0), int(failed or 0), _rate(int(good or 0), int(failed or 0)))
        for tid, title, n, good, failed in plain
    ]
    assert listed == expected
    assert any(row[2] > 0 for row in listed)


def _rate(ok: int, failed: int) -> float:
    return round(100.0 * ok / (ok + failed), 4) if ok + failed else 0.0


async def _timeline_fixture(store: Store) -> TaskRun:
    task = await store.tasks.create(title="timeline")
    run = await store.runs.start(task.id)
    for step in range(4):
        agent = await store.agent_runs.start(run.id, agent_name=f"agent-{step}")
        rows = [
            {
                "event_type": "MESSAGE",
                "task_id": task.id,
                "run_id": run.id,
                "content": f"{step}.{i}",
            }
            for i in range(6 + step)
        ]
        rows.append({"event_type": "LOG", "task_id": task.id, "agent_run_id": agent.id})
        await _ingest(store, rows)
    return run


async def test_run_timeline_matches_a_plain_query(store: Store) -> None:
    run = await _timeline_fixture(store)
    async with store.reader() as s:
        agents = (
            await s.execute(
                select(AgentRun.id, AgentRun.started_at).where(AgentRun.run_id == run.id)
            )
        ).all()
        events = (
            await s.execute(select(Event.id, Event.created_at).where(Event.run_id == run.id))
        ).all()
    # Same instant: the agent run (rank 0) first, then events; then by id.
    expected = sorted([(at, 0, i) for i, at in agents] + [(at, 1, i) for i, at in events])
    assert len(expected) > 30

    for limit in (1, 4, 11, 1000):
        seen: list[tuple[Any, ...]] = []
        after: TimelineCursor | None = None
        while True:
            async with store.reader() as s:
                page = await s.run_sync(
                    run_timeline, store.customer_id, run.id, after=after, limit=limit
                )
            seen += [(e.at, 0 if e.kind == "agent_run" else 1, e.item.id) for e in page.entries]
            if page.next_cursor is None:
                break
            after = page.next_cursor
        assert seen == expected, limit


async def test_run_timeline_is_scoped_and_checks_its_cursor(store: Store) -> None:
    run = await _timeline_fixture(store)
    async with store.transaction() as s:
        customer = Customer(name="Other", email=f"{uuid.uuid4().hex}@other.test")
        s.add(customer)
    async with store.reader() as s:
        with pytest.raises(NotFound):
            await s.run_sync(run_timeline, customer.id, run.id)
        bad = TimelineCursor(at=T0, kind="event", key="not-a-number")
        with pytest.raises(ValidationError, match="cursor"):
            await s.run_sync(run_timeline, store.customer_id, run.id, after=bad)
        with pytest.raises(ValidationError, match="limit"):
            await s.run_sync(run_timeline, store.customer_id, run.id, limit=0)


async def test_metric_series_and_aggregates_match_a_plain_query(store: Store) -> None:
    task = await store.tasks.create(title="metrics")
    run = await store.runs.start(task.id)
    rng = random.Random(11)
    points = [
        {
            "name": rng.choice(["cpu", "tokens", "latency"]),
            "value": rng.uniform(-5, 5),
            "task_id": task.id,
            "run_id": run.id if i % 2 else None,
            "recorded_at": T0 + timedelta(seconds=rng.randint(0, 40)),
        }
        for i in range(400)
    ]
    async with store.transaction() as s:
        await s.run_sync(ingest_metrics, store.customer_id, points, chunk_size=64)

    for scope in ({"task_id": task.id}, {"run_id": run.id}):
        column = MetricPoint.task_id if "task_id" in scope else MetricPoint.run_id
        key = next(iter(scope.values()))
        async with store.reader() as s:
            plain = (
                await s.execute(
                    select(MetricPoint.id, MetricPoint.name, MetricPoint.value)
                    .where(column == key)
                    .order_by(MetricPoint.recorded_at, MetricPoint.id)
                )
            ).all()
            series = await s.run_sync(metric_service.series, store.customer_id, "tokens", **scope)
            summary = await s.run_sync(metric_service.summarize, store.customer_id, **scope)
        assert [p.id for p in series] == [i for i, name, _ in plain if name == "tokens"]
        for name in ("cpu", "tokens", "latency"):
            values = [v for _, n, v in plain if n == name]
            got = summary[name]
            assert (got.count, got.min, got.max, got.last) == (
                len(values),
                min(values),
                max(values),
                values[-1],
            )
            assert got.avg == pytest.approx(sum(values) / len(values))

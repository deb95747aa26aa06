"""Buffered appends: flush on close, no loss across size- and time-triggered writes, errors."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from flightlog import Store, ValidationError
from flightlog.ingest import EventAppender, FlushFailed, MetricAppender
from flightlog.models import Customer, Event, MetricPoint, Task

#: A bound on waiting for a background write; never reached unless the feature is broken.
PATIENCE_SECONDS = 60


async def _task(store: Store) -> Task:
    return await store.tasks.create(title="appender")


async def _contents(store: Store, task_id: uuid.UUID) -> list[str | None]:
    async with store.reader() as s:
        stmt = (
            select(Event.content)
            .where(Event.task_id == task_id, Event.event_type == "LOG")
            .order_by(Event.id)
        )
        return list((await s.scalars(stmt)).all())


async def test_close_flushes_what_is_buffered(store: Store) -> None:
    task = await _task(store)
    appender = EventAppender(store, max_batch=1000, max_delay=None)
    for i in range(7):
        await appender.append({"event_type": "LOG", "task_id": task.id, "content": f"e{i}"})
    assert appender.pending == 7
    assert await _contents(store, task.id) == []
    await appender.close()
    assert await _contents(store, task.id) == [f"e{i}" for i in range(7)]
    assert (appender.pending, appender.written) == (0, 7)
    await appender.close()
    with pytest.raises(ValidationError, match="closed"):
        await appender.append({"event_type": "LOG", "task_id": task.id})


async def test_nothing_is_lost_across_many_size_triggered_writes(store: Store) -> None:
    task = await _task(store)
    batches: list[int] = []
    async with EventAppender(
        store, max_batch=50, max_delay=None, on_flush=batches.append
    ) as appender:
        for i in range(1234):
            await appender.append({"event_type": "LOG", "task_id": task.id, "content": f"e{i}"})
    assert await _contents(store, task.id) == [f"e{i}" for i in range(1234)]
    assert sum(batches) == 1234
    assert len(batches) >= 1234 // 50
    assert appender.written == 1234


async def test_flush_returns_after_the_rows_are_committed(store: Store) -> None:
    task = await _task(store)
    appender = EventAppender(store, max_batch=10_000, max_delay=None)
    for i in range(3):
        await appender.append({"event_type": "LOG", "task_id": task.id, "content": f"e{i}"})
    await appender.flush()
    assert await _contents(store, task.id) == ["e0", "e1", "e2"]
    await appender.append({"event_type": "LOG", "task_id": task.id, "content": "e3"})
    await appender.close()
    assert await _contents(store, task.id) == ["e0", "e1", "e2", "e3"]


async def test_a_partial_batch_is_written_when_it_has_waited_long_enough(store: Store) -> None:
    task = await _task(store)
    flushed = asyncio.Event()
    appender = EventAppender(
        store, max_batch=10_000, max_delay=0.001, on_flush=lambda _rows: flushed.set()
    )
    for i in range(5):
        await appender.append({"event_type": "LOG", "task_id": task.id, "content": f"e{i}"})
    await asyncio.wait_for(flushed.wait(), PATIENCE_SECONDS)
    assert appender.written == 5
    assert await _contents(store, task.id) == [f"e{i}" for i in range(5)]
    await appender.close()


async def test_an_invalid_append_is_refused_at_once_and_not_buffered(store: Store) -> None:
    task = await _task(store)
    appender = EventAppender(store, max_batch=100, max_delay=None)
    await appender.append({"event_type": "LOG", "task_id": task.id, "content": "kept"})
    with pytest.raises(ValidationError) as caught:
        await appender.append({"event_type": "SHOUT", "task_id": task.id})
    assert "event_type" in str(caught.value)
    assert caught.value.details["index"] is None
    with pytest.raises(ValidationError, match="task_id or a run_id"):
        await MetricAppender(store).append({"name": "orphan", "value": 1.0})
    assert appender.pending == 1
    await appender.close()
    assert await _contents(store, task.id) == ["kept"]


async def test_a_failed_background_write_surfaces_on_the_next_call(store: Store) -> None:
    task = await _task(store)
    async with store.transaction() as s:
        customer = Customer(name="Other", email=f"{uuid.uuid4().hex}@other.test")
        s.add(customer)
    other = Store(store.engine, store.settings, customer.id, connection=store.connection)
    theirs = await other.tasks.create(title="theirs")
    flushed = asyncio.Event()
    appender = EventAppender(store, max_batch=2, max_delay=None, on_flush=lambda _: flushed.set())
    await appender.append({"event_type": "LOG", "task_id": task.id, "content": "mine"})
    await appender.append({"event_type": "LOG", "task_id": theirs.id, "content": "theirs"})
    with pytest.raises(FlushFailed) as caught:
        await appender.flush()
    assert caught.value.details["rows"] == 2
    assert not flushed.is_set()
    assert await _contents(store, task.id) == []
    await appender.append({"event_type": "LOG", "task_id": task.id, "content": "later"})
    await appender.close()
    assert await _contents(store, task.id) == ["later"]


async def test_metrics_through_a_sessionmaker(store: Store) -> None:
    task = await _task(store)
    sessions = async_sessionmaker(
        bind=store.connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    async with MetricAppender(sessions, customer_id=store.customer_id, max_batch=40) as points:
        for i in range(100):
            await points.append({"name": "tokens", "value": i, "task_id": task.id})
    async with store.reader() as s:
        values = (
            await s.scalars(
                select(MetricPoint.value)
                .where(MetricPoint.task_id == task.id)
                .order_by(MetricPoint.id)
            )
        ).all()
        total = await s.scalar(select(func.count(MetricPoint.id)))
    assert list(values) == [float(i) for i in range(100)]
    assert total == 100

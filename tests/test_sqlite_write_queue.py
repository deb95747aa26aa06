"""SQLite writers wait in an ordered queue (issue 13, item 2).

Inside a process, the async Store admits one write transaction at a time per
database, in the order they asked, and runs each bound write whole on one
writer thread; readers never wait for it; a wait longer than the busy
timeout is ``DatabaseUnavailable``; a cancelled caller cannot jam it. Across
processes SQLite's busy timeout still applies. Real SQLite files, real commits.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, select

from flightlog import DatabaseUnavailable, Store, open_store
from flightlog.db.urls import DatabaseUrl
from flightlog.models import Event
from flightlog.settings import Settings

pytestmark = pytest.mark.sqlite_only

STORM = Path(__file__).parent / "tools" / "write_storm.py"
#: Bounds for waits that only a hang would reach.
HANG_SECONDS = 60.0


def _url(url: DatabaseUrl) -> str:
    return url.url.render_as_string(hide_password=False)


@contextmanager
def _write_lock_held_elsewhere(url: DatabaseUrl) -> Iterator[Callable[[], None]]:
    """Another connection, as another process would, holds the file's write lock until the
    ``release`` it yields is called (or the block ends)."""
    database = url.url.database
    assert database is not None
    other = sqlite3.connect(database, isolation_level=None)

    def release() -> None:
        other.execute("COMMIT")

    try:
        other.execute("BEGIN IMMEDIATE")
        yield release
    finally:
        other.close()


@pytest.fixture
async def live(
    fresh_url: DatabaseUrl, test_settings: Settings, dialect: str
) -> AsyncIterator[Store]:
    assert dialect == "sqlite"
    async with open_store(_url(fresh_url), settings=test_settings) as store:
        yield store


async def _contents(store: Store) -> list[str]:
    async with store.reader() as s:
        rows = await s.scalars(
            select(Event.content).where(Event.event_type == "LOG").order_by(Event.id)
        )
        return [c for c in rows if c is not None]


async def _writer(store: Store, name: str, writes: int) -> list[str]:
    task = await store.tasks.create(title=name)
    done = []
    for i in range(writes):
        content = f"{name}-{i}"
        await store.events.append({"event_type": "LOG", "task_id": task.id, "content": content})
        done.append(content)
        if i % 5 == 0:
            run = await store.runs.start(task.id)
            await store.runs.finish(run.id)
    return done


async def test_32_concurrent_writers_in_one_process_all_succeed(live: Store) -> None:
    outcomes = await asyncio.wait_for(
        asyncio.gather(*(_writer(live, f"w{n}", 10) for n in range(32)), return_exceptions=True),
        HANG_SECONDS,
    )
    errors = [repr(o) for o in outcomes if isinstance(o, BaseException)]
    assert errors == []
    acknowledged = [c for o in outcomes if isinstance(o, list) for c in o]
    assert len(acknowledged) == 320
    assert sorted(await _contents(live)) == sorted(acknowledged)
    # Composed transactions queue with the bound writes, not in SQLite's busy handler.
    async with live.transaction() as s:
        total = await s.scalar(select(func.count(Event.id)))
    assert total is not None
    assert total >= 320


def test_32_writers_in_8_processes_all_succeed(
    fresh_url: DatabaseUrl, test_settings: Settings, dialect: str
) -> None:
    async def prepare() -> uuid.UUID:
        async with open_store(_url(fresh_url), settings=test_settings) as store:
            return store.customer_id

    customer = asyncio.run(prepare())
    children = [
        subprocess.Popen(
            [sys.executable, str(STORM), _url(fresh_url), str(customer), "4", "10", f"p{p}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in range(8)
    ]
    acknowledged: list[str] = []
    errors: list[str] = []
    try:
        for child in children:
            stdout, stderr = child.communicate(timeout=240)
            assert child.returncode == 0, stderr
            outcome = json.loads(stdout.strip().splitlines()[-1])
            acknowledged += outcome["acknowledged"]
            errors += outcome["errors"]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    assert errors == []
    assert len(acknowledged) == 320

    async def stored() -> list[str]:
        async with open_store(_url(fresh_url), settings=test_settings) as store:
            return await _contents(store)

    assert sorted(asyncio.run(stored())) == sorted(acknowledged)


async def test_writers_are_served_in_the_order_they_asked(live: Store) -> None:
    task = await live.tasks.create(title="order")
    appends = [
        asyncio.ensure_future(
            live.events.append({"event_type": "LOG", "task_id": task.id, "content": str(i)})
        )
        for i in range(40)
    ]
    stored = await asyncio.wait_for(asyncio.gather(*appends), HANG_SECONDS)
    by_id = sorted(stored, key=lambda event: event.id)
    assert [event.content for event in by_id] == [str(i) for i in range(40)]


async def test_readers_do_not_wait_for_a_writer(live: Store) -> None:
    task = await live.tasks.create(title="read me")
    async with live.transaction():
        # The queue is held by this open transaction; reads go around it.
        found = await asyncio.wait_for(live.tasks.get(task.id), HANG_SECONDS)
        listed = await asyncio.wait_for(live.events.list(task_id=task.id), HANG_SECONDS)
    assert found.id == task.id
    assert listed.items != []


async def test_a_wait_past_the_busy_timeout_is_database_unavailable(
    fresh_url: DatabaseUrl, test_settings: Settings, dialect: str
) -> None:
    settings = test_settings.model_copy(update={"sqlite_busy_timeout_ms": 200})
    async with open_store(_url(fresh_url), settings=settings) as store:
        task = await store.tasks.create(title="held")
        async with store.transaction():
            with pytest.raises(DatabaseUnavailable):
                await store.events.append({"event_type": "LOG", "task_id": task.id})
            with pytest.raises(DatabaseUnavailable):
                await store.tasks.create(title="waits too long")
        # Released: writes go through again, and the refused ones left nothing.
        await store.events.append({"event_type": "LOG", "task_id": task.id, "content": "after"})
        assert await _contents(store) == ["after"]


async def test_cancelled_writers_do_not_jam_the_queue(live: Store) -> None:
    task = await live.tasks.create(title="cancel")
    async with live.transaction():
        waiting = [
            asyncio.ensure_future(
                live.events.append({"event_type": "LOG", "task_id": task.id, "content": str(i)})
            )
            for i in range(10)
        ]
        await asyncio.sleep(0)  # let them queue up behind the open transaction
        for pending in waiting[::2]:
            pending.cancel()
    outcomes = await asyncio.wait_for(
        asyncio.gather(*waiting, return_exceptions=True), HANG_SECONDS
    )
    cancelled = [o for o in outcomes if isinstance(o, asyncio.CancelledError)]
    assert len(cancelled) == 5
    after = await asyncio.wait_for(
        live.events.append({"event_type": "LOG", "task_id": task.id, "content": "after"}),
        HANG_SECONDS,
    )
    contents = await _contents(live)
    assert contents[-1] == after.content == "after"
    # Every write that was not cancelled while it waited is there, once.
    assert sorted(contents[:-1]) == sorted(str(i) for i in range(1, 10, 2))


async def test_a_write_lock_held_by_another_process_is_waited_for_off_the_loop(
    live: Store, fresh_url: DatabaseUrl
) -> None:
    """An uncontended small write runs on the loop's thread on a connection that never waits;
    when another process holds the lock it goes to the writer thread and waits there, so the
    loop keeps serving (a read completes meanwhile) and the write lands once the lock is free."""
    task = await live.tasks.create(title="held elsewhere")
    with _write_lock_held_elsewhere(fresh_url) as release:
        waiting = asyncio.ensure_future(
            live.events.append({"event_type": "LOG", "task_id": task.id, "content": "waited"})
        )
        found = await asyncio.wait_for(live.tasks.get(task.id), HANG_SECONDS)
        assert found.id == task.id
        assert not waiting.done()
        release()
        written = await asyncio.wait_for(waiting, HANG_SECONDS)
    assert written.content == "waited"
    assert await _contents(live) == ["waited"]


async def test_another_process_holding_the_lock_past_the_busy_timeout_is_database_unavailable(
    fresh_url: DatabaseUrl, test_settings: Settings
) -> None:
    """The writer thread waits for another process's lock in short steps of its own
    (flightlog.db.engine), up to the busy timeout: then it is the usual DatabaseUnavailable,
    nothing is written, and writes go through once the lock is released."""
    settings = test_settings.model_copy(update={"sqlite_busy_timeout_ms": 200})
    async with open_store(_url(fresh_url), settings=settings) as store:
        task = await store.tasks.create(title="before")
        with _write_lock_held_elsewhere(fresh_url):
            with pytest.raises(DatabaseUnavailable):
                await store.tasks.create(title="refused")
            with pytest.raises(DatabaseUnavailable):
                await store.runs.start(task.id)
        await store.tasks.create(title="after")
        titles = {t.title for t in (await store.tasks.list()).items}
        assert titles == {"before", "after"}
        assert list(await store.runs.list(task.id)) == []


async def test_the_writer_thread_waits_in_steps_and_leaves_its_busy_timeout_as_it_was(
    fresh_url: DatabaseUrl, test_settings: Settings
) -> None:
    """While it waits for another process's lock the writer's connection has a busy
    timeout of 0 (it tries in steps of its own); once the write went through, the
    connection is back at the configured timeout for everything else."""
    from flightlog.store.sqlite_lane import lane_for

    settings = test_settings.model_copy(update={"sqlite_busy_timeout_ms": 20_000})
    async with open_store(_url(fresh_url), settings=settings) as store:
        await store.tasks.create(title="first")
        with _write_lock_held_elsewhere(fresh_url) as release:
            waiting = asyncio.ensure_future(store.tasks.create(title="waited"))
            await asyncio.sleep(0)
            assert not waiting.done()
            release()
            created = await asyncio.wait_for(waiting, HANG_SECONDS)
        assert created.title == "waited"
        lane = lane_for(store.engine, settings)
        raw = lane.engine.raw_connection()
        try:
            (timeout,) = raw.cursor().execute("PRAGMA busy_timeout").fetchone()
        finally:
            raw.close()
        assert timeout == 20_000


async def test_writes_on_the_loop_thread_still_get_their_wal_checkpointed(
    live: Store, fresh_url: DatabaseUrl
) -> None:
    """The loop's connection never checkpoints (its fsync would stall the loop); the writer
    thread does every few hundred such writes, so the WAL stops growing with them."""
    task = await live.tasks.create(title="wal")
    wal = Path(f"{fresh_url.url.database}-wal")

    async def append(count: int) -> None:
        for i in range(count):
            await live.events.append({"event_type": "LOG", "task_id": task.id, "content": str(i)})

    await append(100)
    per_hundred = await asyncio.to_thread(os.path.getsize, wal)
    await append(2900)
    assert live.lane is not None
    await live.lane.write(lambda: None)  # the writer thread is past the checkpoints queued
    # Without checkpoints the file would hold all 3,000 writes (~30 hundreds); with one
    # every few hundred it is reused and holds a few hundred writes at most.
    assert await asyncio.to_thread(os.path.getsize, wal) < per_hundred * 10


async def test_small_writes_that_find_the_queue_busy_wait_in_it_and_run_on_the_loop(
    live: Store,
) -> None:
    """A one-statement write that finds other writes ahead of it waits its turn in the
    queue and then still runs on the loop's thread: sending it to the writer thread made
    a busy queue stay busy, every write paying a thread hand-off (16 concurrent writers
    got 0.6x the events/s of one). Order and results are those of the queue."""
    task = await live.tasks.create(title="busy queue")
    lane = live.lane
    assert lane is not None
    await live.events.append({"event_type": "LOG", "task_id": task.id, "content": "first"})
    before = lane.writes_on_loop_thread
    release = threading.Event()
    holding = asyncio.ensure_future(lane.write(lambda: release.wait(HANG_SECONDS)))
    appends = [
        asyncio.ensure_future(
            live.events.append({"event_type": "LOG", "task_id": task.id, "content": str(i)})
        )
        for i in range(10)
    ]
    for _ in range(20):
        await asyncio.sleep(0)  # every append reaches the queue behind the held turn
    assert not any(append.done() for append in appends)
    release.set()
    assert await asyncio.wait_for(holding, HANG_SECONDS) is True
    stored = await asyncio.wait_for(asyncio.gather(*appends), HANG_SECONDS)
    assert lane.writes_on_loop_thread - before == 10
    assert [event.content for event in sorted(stored, key=lambda e: e.id)] == [
        str(i) for i in range(10)
    ]
    assert await _contents(live) == ["first", *(str(i) for i in range(10))]

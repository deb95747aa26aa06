"""The small-write path (issue 13): one event, or a short list, as one checked INSERT.

``store.events.append`` and ``store.events.append_batch`` of up to
``SMALL_BATCH`` events run as one statement that also does the write guard's
and the tenant checks, on the raw driver, in a transaction of their own. These
tests hold it to the batch path: the same stored rows, ids in input order, the
same refusals with nothing written, and that the path really is taken (no
statement through SQLAlchemy). Both Stores, both dialects, real commits.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, bindparam, event, func, inspect, select, text, update

from flightlog import (
    EventType,
    NotFound,
    PermissionDenied,
    Store,
    SyncStore,
    ValidationError,
    open_store,
    open_store_sync,
)
from flightlog.db.urls import DatabaseUrl
from flightlog.ingest import ingest_events_returning_ids
from flightlog.ingest.small import SMALL_BATCH, plan_event
from flightlog.models import Customer, Event, Task, TaskRun
from flightlog.services.events import DEFAULT_MAX_PAYLOAD_BYTES
from flightlog.settings import Settings
from flightlog.store.one_statement import param_style, run_asyncpg, run_psycopg, run_sqlite

INDIA = timezone(timedelta(hours=5, minutes=30))
STORED_COLUMNS = (
    "customer_id, task_id, run_id, agent_run_id, agent_id, parent_event_id, event_type, "
    "severity, agent_role, content, data, entity_type, entity_id, actor, trace_id, span_id"
)


def _url(url: DatabaseUrl) -> str:
    return url.url.render_as_string(hide_password=False)


@pytest.fixture
async def live(fresh_url: DatabaseUrl, test_settings: Settings) -> AsyncIterator[Store]:
    """An async Store on its own database: every call commits for real."""
    async with open_store(_url(fresh_url), settings=test_settings) as store:
        yield store


@pytest.fixture
def live_sync(live: Store, fresh_url: DatabaseUrl, test_settings: Settings) -> Iterator[SyncStore]:
    """The synchronous Store on the same database, for the same customer."""
    with open_store_sync(
        _url(fresh_url), settings=test_settings, customer_id=live.customer_id
    ) as store:
        yield store


def _sqlalchemy_engine(store: Store) -> Engine:
    """The engine whose statements SQLAlchemy sees for this Store's bound calls."""
    return store.lane.engine if store.lane is not None else store.engine.sync_engine


class _Statements:
    """Statements SQLAlchemy sends on an engine while counting (raw driver calls are not seen)."""

    def __init__(self, engine: Engine) -> None:
        self.seen: list[str] = []
        self._engine = engine

    def __enter__(self) -> _Statements:
        event.listen(self._engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self._engine, "before_cursor_execute", self._record)

    def _record(self, *args: Any) -> None:
        self.seen.append(str(args[2]))


async def _task_and_run(store: Store) -> tuple[Task, TaskRun]:
    task = await store.tasks.create(title="small writes")
    return task, await store.runs.start(task.id)


def _varied(task: Task, run: TaskRun, parent: int) -> list[dict[str, Any]]:
    return [
        {"event_type": "LOG", "task_id": task.id, "content": "plain"},
        {"event_type": "message", "task_id": str(task.id), "run_id": run.id, "data": None},
        {
            "event_type": EventType.RESULT,
            "severity": "warning",
            "task_id": task.id,
            "run_id": str(run.id).upper(),
            "content": "naïve ✓ 日本",
            "data": {"diff": "+a\n-b", "nested": {"list": [1, 2.5, None, True]}, "ü": "é"},
            "agent_role": "Engineer",
            "entity_type": "TaskRun",
            "entity_id": str(run.id),
            "actor": "qa@example.test",
            "trace_id": "0af7651916cd43dd8448eb211c80319c",
            "span_id": "b7ad6b7169203331",
            "parent_event_id": parent,
        },
        {"event_type": "ERROR", "severity": "CRITICAL", "data": {}, "task_id": task.id},
        {
            "event_type": "LOG",
            "task_id": task.id,
            "created_at": datetime(2030, 1, 1, 5, 30, 0, 123456, tzinfo=INDIA),
        },
    ]


async def _stored(store: Store, ids: list[int]) -> list[tuple[Any, ...]]:
    """Rows exactly as stored (SQLite: the text SQLAlchemy wrote), in the order of ``ids``."""
    async with store.reader() as s:
        stmt = text(f"SELECT id, {STORED_COLUMNS} FROM events WHERE id IN :ids")
        result = await s.execute(stmt.bindparams(bindparam("ids", expanding=True)), {"ids": ids})
        by_id = {row[0]: tuple(row[1:]) for row in result.all()}
    return [by_id[i] for i in ids]


async def _count(store: Store) -> int:
    async with store.reader() as s:
        return int(await s.scalar(select(func.count(Event.id))) or 0)


async def test_a_short_batch_is_one_statement_storing_what_the_batch_path_stores(
    live: Store,
) -> None:
    task, run = await _task_and_run(live)
    parent = await live.events.append({"event_type": "LOG", "task_id": task.id})
    batch = _varied(task, run, parent.id)
    # On PostgreSQL the first write to a month without a partition (2030 here) takes the
    # declared path, which makes the partition (decision 0016); the next is one statement.
    await live.events.append(batch[-1])
    with _Statements(_sqlalchemy_engine(live)) as statements:
        small_ids = await live.events.append_batch(batch)
    assert statements.seen == [], "the small path sent statements through SQLAlchemy"
    async with live.transaction() as s:
        batch_ids = await s.run_sync(
            ingest_events_returning_ids, live.customer_id, DEFAULT_MAX_PAYLOAD_BYTES, batch
        )

    assert small_ids == sorted(small_ids)
    assert len(set(small_ids)) == len(batch)
    assert await _stored(live, small_ids) == await _stored(live, batch_ids)
    # Ids are in input order: each id holds the event given at its position.
    contents = [row[9] for row in await _stored(live, small_ids)]
    assert contents == [raw.get("content") for raw in batch]
    events = {e.id: e for e in (await live.events.list(task_id=task.id, limit=100)).items}
    given = datetime(2030, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)
    assert events[small_ids[4]].created_at == events[batch_ids[4]].created_at == given
    assert events[small_ids[0]].created_at < given


async def test_one_event_is_returned_as_stored(live: Store) -> None:
    task, run = await _task_and_run(live)
    raw = _varied(task, run, 1)[2]
    raw.pop("parent_event_id")
    with _Statements(_sqlalchemy_engine(live)) as statements:
        appended = await live.events.append(raw)
    assert statements.seen == []
    async with live.reader() as s:
        stored = await s.get_one(Event, appended.id)
    for column in Event.__table__.columns.keys():  # noqa: SIM118
        assert getattr(appended, column) == getattr(stored, column), column
    assert appended.customer_id == live.customer_id
    assert appended.created_at.tzinfo is not None
    # As the ORM returns a stored row once its session is gone: detached, with the
    # stored row's identity, nothing pending, so a session can take it back as it is.
    state = inspect(appended)
    assert state.detached
    assert state.key == inspect(stored).key
    assert not state.modified
    assert not state.expired_attributes
    async with live.reader() as s:
        merged = await s.merge(appended, load=False)
        assert merged.content == stored.content


#: A process whose first ORM work is an append: a Store opened for a known customer.
_FIRST_WRITE = """
import asyncio, sys, uuid
from flightlog import open_store, open_store_sync

url, which = sys.argv[1], sys.argv[4]
customer, task = uuid.UUID(sys.argv[2]), uuid.UUID(sys.argv[3])
raw = {"event_type": "LOG", "task_id": task, "content": "first of this process"}

async def on_async():
    async with open_store(url, customer_id=customer) as store:
        return await store.events.append(raw)

if which == "async":
    event = asyncio.run(on_async())
else:
    with open_store_sync(url, customer_id=customer) as store:
        event = store.events.append(raw)
print(event.id, event.task_id, event.content, event.event_type.value)
"""


@pytest.mark.parametrize("which", ["async", "sync"])
async def test_the_first_write_of_a_process_returns_a_usable_event(
    live: Store, fresh_url: DatabaseUrl, tmp_path: Path, which: str
) -> None:
    """Before anything else configured SQLAlchemy's mappers, the returned event still reads."""
    task = await live.tasks.create(title="first write")
    env = {**os.environ, "FLIGHTLOG_BLOB_DIR": str(tmp_path / "blobs")}
    args = [_url(fresh_url), str(live.customer_id), str(task.id), which]
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", _FIRST_WRITE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    new_id, task_id, *words = done.stdout.split()
    assert (task_id, words) == (str(task.id), ["first", "of", "this", "process", "LOG"])
    async with live.reader() as s:
        stored = await s.get_one(Event, int(new_id))
    assert (stored.task_id, stored.content) == (task.id, "first of this process")


def test_a_committed_one_statement_write_is_never_written_again(
    live_sync: SyncStore, dialect: str
) -> None:
    """On PostgreSQL the statement commits by itself: if reading its result failed, the
    declared path must not run (it would write the event a second time), so the failure
    is the caller's. On SQLite it fails before COMMIT: rolled back, nothing is left, and
    the declared path may run (None)."""
    task = live_sync.tasks.create(title="written once")
    engine = live_sync.engine
    style = param_style(engine.dialect.driver)
    raw = {"event_type": "LOG", "task_id": task.id, "content": "once"}
    planned = plan_event(dialect, style, live_sync.customer_id, DEFAULT_MAX_PAYLOAD_BYTES, raw)

    def broken(_rows: list[tuple[Any, ...]]) -> Event | None:
        raise RuntimeError("reading the result failed")

    unreadable = dataclasses.replace(planned, finish=broken)
    if dialect == "postgresql":
        with pytest.raises(RuntimeError, match="reading the result failed"):
            run_psycopg(engine, unreadable)
    else:
        assert run_sqlite(engine, unreadable) is None
    listed = live_sync.events.list(task_id=task.id, event_types=[EventType.LOG], limit=10)
    assert [e.content for e in listed.items] == (["once"] if dialect == "postgresql" else [])


@pytest.mark.postgres_only
async def test_a_committed_asyncpg_write_is_never_written_again(live: Store, dialect: str) -> None:
    """The same on the async Store's driver."""
    task = await live.tasks.create(title="written once, async")
    raw = {"event_type": "LOG", "task_id": task.id, "content": "once"}
    planned = plan_event(dialect, "numeric_dollar", live.customer_id, 10**6, raw)

    def broken(_rows: list[tuple[Any, ...]]) -> Event | None:
        raise RuntimeError("reading the result failed")

    with pytest.raises(RuntimeError, match="reading the result failed"):
        await run_asyncpg(live.engine, dataclasses.replace(planned, finish=broken))
    listed = await live.events.list(task_id=task.id, event_types=[EventType.LOG], limit=10)
    assert [e.content for e in listed.items] == ["once"]


def test_the_synchronous_store_takes_the_same_path(live_sync: SyncStore) -> None:
    task = live_sync.tasks.create(title="sync small")
    with _Statements(live_sync.engine) as statements:
        one = live_sync.events.append({"event_type": "LOG", "task_id": task.id, "content": "a"})
        ids = live_sync.events.append_batch(
            [{"event_type": "LOG", "task_id": task.id, "content": str(i)} for i in range(3)]
        )
    assert statements.seen == []
    assert one.id < ids[0] < ids[1] < ids[2]
    page = live_sync.events.list(task_id=task.id, event_types=[EventType.LOG], limit=10)
    assert [(e.id, e.content) for e in page.items] == [
        (one.id, "a"),
        *zip(ids, ["0", "1", "2"], strict=True),
    ]


#: Every kind of id an event names and the small path checks.
_KINDS = ("task_id", "run_id", "agent_run_id", "agent_id", "parent_event_id")


async def test_each_kind_of_id_is_checked_by_the_small_path(
    live: Store, fresh_url: DatabaseUrl, test_settings: Settings
) -> None:
    """One event naming the customer's own task, run, agent run, agent and parent event
    is written by the small path (nothing through SQLAlchemy); naming another customer's
    refuses it (NotFound, nothing written), whichever kind it is."""
    task, run = await _task_and_run(live)
    agent = await live.agents.register("checked", "engineer")
    step = await live.agent_runs.start(run.id, agent_name="checked")
    parent = await live.events.append({"event_type": "LOG", "task_id": task.id})
    mine = dict(zip(_KINDS, (task.id, run.id, step.id, agent.id, parent.id), strict=True))
    async with open_store(_url(fresh_url), settings=test_settings) as same:
        async with same.transaction() as s:
            other = Customer(name="Other", email=f"{uuid.uuid4().hex}@other.test")
            s.add(other)
        foreign = Store(same.engine, same.settings, other.id)
        their_task, their_run = await _task_and_run(foreign)
        their_agent = await foreign.agents.register("theirs", "engineer")
        their_step = await foreign.agent_runs.start(their_run.id, agent_name="theirs")
        their_parent = await foreign.events.append({"event_type": "LOG", "task_id": their_task.id})
    theirs = dict(
        zip(
            _KINDS,
            (their_task.id, their_run.id, their_step.id, their_agent.id, their_parent.id),
            strict=True,
        )
    )
    with _Statements(_sqlalchemy_engine(live)) as statements:
        written = await live.events.append({"event_type": "LOG", **mine})
        ids = await live.events.append_batch([{"event_type": "LOG", **mine}])
    assert statements.seen == []
    assert (written.agent_id, written.parent_event_id) == (agent.id, parent.id)
    assert len(ids) == 1
    before = await _count(live)
    for kind in mine:
        with pytest.raises(NotFound):
            await live.events.append({"event_type": "LOG", **mine, kind: theirs[kind]})
        with pytest.raises(NotFound):
            await live.events.append_batch([{"event_type": "LOG", **mine, kind: theirs[kind]}])
    assert await _count(live) == before


async def test_refusals_are_the_declared_ones_and_write_nothing(
    live: Store, fresh_url: DatabaseUrl, test_settings: Settings
) -> None:
    task, _ = await _task_and_run(live)
    async with open_store(_url(fresh_url), settings=test_settings) as same:
        async with same.transaction() as s:
            other = Customer(name="Other", email=f"{uuid.uuid4().hex}@other.test")
            s.add(other)
        foreign = Store(same.engine, same.settings, other.id)
        foreign_task = await foreign.tasks.create(title="not yours")
    before = await _count(live)

    with pytest.raises(NotFound):
        await live.events.append({"event_type": "LOG", "task_id": foreign_task.id})
    with pytest.raises(NotFound):
        await live.events.append_batch(
            [
                {"event_type": "LOG", "task_id": task.id},
                {"event_type": "LOG", "task_id": foreign_task.id},
            ]
        )
    with pytest.raises(NotFound):
        await live.events.append({"event_type": "LOG", "parent_event_id": 10**12})
    with pytest.raises(ValidationError) as invalid:
        await live.events.append_batch(
            [{"event_type": "LOG", "task_id": task.id}, {"event_type": "NOPE"}]
        )
    assert invalid.value.details["index"] == 1
    with pytest.raises(ValidationError):
        await live.events.append(
            {"event_type": "LOG", "content": "x" * (DEFAULT_MAX_PAYLOAD_BYTES + 1)}
        )
    assert await _count(live) == before

    async with live.operator_transaction() as s:
        await s.execute(
            update(Customer).where(Customer.id == live.customer_id).values(status="SUSPENDED")
        )
    with pytest.raises(PermissionDenied):
        await live.events.append({"event_type": "LOG", "task_id": task.id})
    with pytest.raises(PermissionDenied):
        # The suspension is what the declared path says first, as before.
        await live.events.append({"event_type": "NOPE"})
    with pytest.raises(PermissionDenied):
        await live.events.append_batch([{"event_type": "LOG", "task_id": task.id}])
    assert await _count(live) == before


async def test_a_long_batch_takes_the_batch_path(live: Store) -> None:
    task, _ = await _task_and_run(live)
    batch = [{"event_type": "LOG", "task_id": task.id, "content": str(i)} for i in range(200)]
    assert len(batch) > SMALL_BATCH
    ids = await live.events.append_batch(batch)
    assert len(ids) == 200
    assert [row[9] for row in await _stored(live, ids)] == [str(i) for i in range(200)]


async def test_an_iterator_is_not_consumed_by_the_small_path(live: Store) -> None:
    task, _ = await _task_and_run(live)
    ids = await live.events.append_batch(
        {"event_type": "LOG", "task_id": task.id, "content": str(i)} for i in range(3)
    )
    assert len(ids) == 3
    assert [row[9] for row in await _stored(live, ids)] == ["0", "1", "2"]


async def test_text_postgresql_cannot_hold_is_refused_on_the_declared_path(
    live: Store, dialect: str
) -> None:
    task, _ = await _task_and_run(live)
    before = await _count(live)
    if dialect == "postgresql":
        with pytest.raises(ValidationError):
            await live.events.append({"event_type": "LOG", "task_id": task.id, "content": "a\x00b"})
        assert await _count(live) == before
    else:
        stored = await live.events.append(
            {"event_type": "LOG", "task_id": task.id, "content": "a\x00b"}
        )
        assert stored.content == "a\x00b"


@pytest.mark.postgres_only
async def test_a_live_follower_misses_no_small_write(live: Store) -> None:
    """The statement takes its transaction id before its rows' ids, so the live feed's
    watermark never passes an id that can still commit (flightlog.services.event_feed)."""
    from flightlog.services.event_feed import Watermark

    task, _ = await _task_and_run(live)
    watermark = Watermark()
    seen: list[int] = []
    last: list[int] = []  # the highest id written, once every writer is done

    async def follow() -> None:
        cursor = 0
        while not (last and cursor >= last[0]):
            async with live.reader() as s:
                await s.run_sync(watermark.sample)
            async with live.reader() as s:
                safe = await s.run_sync(watermark.safe_id)
                assert safe is not None
                rows = await s.scalars(
                    select(Event.id)
                    .where(Event.task_id == task.id, Event.id > cursor, Event.id <= safe)
                    .order_by(Event.id)
                )
                fresh = list(rows)
            seen.extend(fresh)
            cursor = fresh[-1] if fresh else cursor
            await asyncio.sleep(0)

    async def write(n: int) -> list[int]:
        return [
            (
                await live.events.append(
                    {"event_type": "LOG", "task_id": task.id, "content": f"{n}"}
                )
            ).id
            for _ in range(40)
        ]

    follower = asyncio.ensure_future(follow())
    written = await asyncio.gather(*(write(n) for n in range(8)))
    last.append(max(i for ids in written for i in ids))
    # Other transactions on the server may hold the watermark back a while, never for good.
    await asyncio.wait_for(follower, 60)
    lifecycle = await live.events.list(task_id=task.id, limit=500)
    expected = sorted(e.id for e in lifecycle.items)
    assert len(seen) == len(set(seen))
    assert sorted(seen) == expected
    assert {i for ids in written for i in ids} <= set(seen)

"""PostgreSQL connections are tested before use only when they may be stale (db.pool_ping).

A connection that came back to the pool a moment ago is lent again without a
round trip; one that sat idle past ``pool_ping_after_idle_seconds``, or any
that came back before the pool last saw a connection fail, is tested first and
replaced without an error when it is dead. Real PostgreSQL, real backends
killed with ``pg_terminate_backend``.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from flightlog import DatabaseUnavailable, open_store, open_store_sync
from flightlog.db.engine import create_async_db_engine, create_sync_engine
from flightlog.db.pool_ping import ping_counts
from flightlog.db.urls import DatabaseUrl
from flightlog.settings import Settings

pytestmark = pytest.mark.postgres_only


def _settings(db_url: DatabaseUrl, idle_seconds: float | None = None) -> Settings:
    name = f"ping-{uuid.uuid4().hex[:12]}"
    settings = Settings(database_url=db_url.redacted(), application_name=name)
    if idle_seconds is None:
        return settings
    return settings.model_copy(update={"pool_ping_after_idle_seconds": idle_seconds})


def _kill_backends(db_url: DatabaseUrl, application_name: str) -> int:
    """End every backend of ``application_name``, as a server restart would; how many."""
    conninfo = db_url.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = %s AND pid <> pg_backend_pid()",
            (application_name,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def _select_one(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT 1")).scalar_one())


async def _select_one_async(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT 1"))).scalar_one())


def test_a_connection_reused_at_once_is_not_tested(db_url: DatabaseUrl, dialect: str) -> None:
    engine = create_sync_engine(_settings(db_url), url=db_url)
    every = create_sync_engine(_settings(db_url, idle_seconds=0), url=db_url)
    try:
        for _ in range(50):
            assert _select_one(engine) == 1
            assert _select_one(every) == 1
        assert ping_counts(engine).tested == 0
        # With 0 every checkout but the first (a new connection) is tested.
        assert ping_counts(every).tested == 49
    finally:
        engine.dispose()
        every.dispose()


async def test_an_async_connection_reused_at_once_is_not_tested(
    db_url: DatabaseUrl, dialect: str
) -> None:
    engine = create_async_db_engine(_settings(db_url), url=db_url)
    every = create_async_db_engine(_settings(db_url, idle_seconds=0), url=db_url)
    try:
        for _ in range(50):
            assert await _select_one_async(engine) == 1
            assert await _select_one_async(every) == 1
        assert ping_counts(engine.sync_engine).tested == 0
        # asyncpg's test runs inside the checkout, on a live connection: it passes.
        assert ping_counts(every.sync_engine).tested == 49
        assert ping_counts(every.sync_engine).replaced == 0
    finally:
        await engine.dispose()
        await every.dispose()


def test_a_dead_connection_is_tested_and_replaced_without_an_error(
    db_url: DatabaseUrl, dialect: str
) -> None:
    """psycopg cannot know its connection died until it uses it; the test at checkout
    (every checkout here) finds it and the pool lends a new one instead."""
    settings = _settings(db_url, idle_seconds=0)
    engine = create_sync_engine(settings, url=db_url)
    try:
        assert _select_one(engine) == 1
        assert _kill_backends(db_url, settings.application_name) == 1
        assert _select_one(engine) == 1
        assert ping_counts(engine).replaced == 1
    finally:
        engine.dispose()


def test_after_a_dead_connection_sqlalchemy_met_the_pool_serves_again(
    db_url: DatabaseUrl, dialect: str
) -> None:
    """Killed within the window, the first use fails (the database did go away under it);
    SQLAlchemy's own disconnect handling then renews every older connection."""
    settings = _settings(db_url, idle_seconds=3600)
    engine = create_sync_engine(settings, url=db_url)
    try:
        with engine.connect() as a, engine.connect() as b, engine.connect() as c:
            for held in (a, b, c):
                held.execute(text("SELECT 1"))
        assert _kill_backends(db_url, settings.application_name) == 3
        with pytest.raises(DBAPIError) as failed:
            _select_one(engine)
        assert failed.value.connection_invalidated
        assert [_select_one(engine) for _ in range(5)] == [1] * 5
    finally:
        engine.dispose()


async def test_a_dead_connection_met_by_a_one_statement_write_makes_the_others_prove_themselves(
    db_url: DatabaseUrl, dialect: str
) -> None:
    """The one-statement write runs on the raw driver, around SQLAlchemy's error handling.
    A dead connection asyncpg already knows is closed is replaced at checkout; one it does
    not know fails its one write (DatabaseUnavailable) and leaves the pool, and the others,
    which came back before it failed, are tested and replaced before their next use."""
    settings = _settings(db_url, idle_seconds=3600)
    async with open_store(db_url.redacted(), settings=settings, upgrade=False) as store:
        task = await store.tasks.create(title="before the kill")
        event = {"event_type": "LOG", "task_id": task.id, "content": "one"}
        await asyncio.gather(*(store.events.append(event) for _ in range(3)))
        killed = await asyncio.to_thread(_kill_backends, db_url, settings.application_name)
        assert killed >= 2  # the pool's, and any other connection the Store holds
        outcomes = []
        for _ in range(killed + 2):
            try:
                outcomes.append((await store.events.append(event)).content)
            except DatabaseUnavailable:
                outcomes.append("unavailable")
        failures = outcomes.count("unavailable")
        assert outcomes == ["unavailable"] * failures + ["one"] * (killed + 2 - failures)
        assert failures <= 1
        # Each dead connection of the pool failed one write or was replaced at checkout.
        replaced = ping_counts(store.engine.sync_engine).replaced
        assert replaced >= 1
        assert failures + replaced <= killed
        listed = await store.events.list(task_id=task.id, limit=100)
        assert [e.content for e in listed.items].count("one") == 3 + outcomes.count("one")


def test_a_synchronous_one_statement_write_on_a_dead_connection_is_unavailable_once(
    db_url: DatabaseUrl, dialect: str
) -> None:
    """psycopg meets the dead connection in the write itself: the write is answered
    DatabaseUnavailable (it may have been sent), not run again on another connection;
    its connection leaves the pool and the others are tested before their next use."""
    settings = _settings(db_url, idle_seconds=3600)
    store = open_store_sync(db_url.redacted(), settings=settings, upgrade=False)
    try:
        task = store.tasks.create(title="before the kill")
        event = {"event_type": "LOG", "task_id": task.id, "content": "one"}
        with store.engine.connect() as a, store.engine.connect() as b:
            for held in (a, b):
                held.execute(text("SELECT 1"))
        store.events.append(event)
        killed = _kill_backends(db_url, settings.application_name)
        assert killed == 2
        with pytest.raises(DatabaseUnavailable):
            store.events.append(event)
        assert [store.events.append(event).content for _ in range(3)] == ["one"] * 3
        assert ping_counts(store.engine).replaced == killed - 1
        listed = store.events.list(task_id=task.id, limit=100)
        assert [e.content for e in listed.items].count("one") == 1 + 3
    finally:
        store.close()


def test_an_engine_the_pool_watch_is_not_on_is_refused(tmp_path: Path, dialect: str) -> None:
    engine = create_sync_engine(Settings(), url=DatabaseUrl.parse(f"sqlite:///{tmp_path}/a.db"))
    try:
        with pytest.raises(LookupError):
            ping_counts(engine)
    finally:
        engine.dispose()

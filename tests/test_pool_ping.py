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

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from flightlog import DatabaseUnavailable, open_store
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
    try:
        for _ in range(50):
            assert await _select_one_async(engine) == 1
        assert ping_counts(engine.sync_engine).tested == 0
    finally:
        await engine.dispose()


def test_a_connection_dead_past_the_idle_window_is_replaced_without_an_error(
    db_url: DatabaseUrl, dialect: str
) -> None:
    settings = _settings(db_url, idle_seconds=0)
    engine = create_sync_engine(settings, url=db_url)
    try:
        assert _select_one(engine) == 1
        assert _kill_backends(db_url, settings.application_name) == 1
        assert _select_one(engine) == 1
        assert ping_counts(engine).replaced == 1
    finally:
        engine.dispose()


async def test_after_a_dead_connection_sqlalchemy_met_the_pool_serves_again(
    db_url: DatabaseUrl, dialect: str
) -> None:
    """Killed within the window, the first use fails (the database did go away under it);
    SQLAlchemy's own disconnect handling then renews every older connection."""
    settings = _settings(db_url, idle_seconds=3600)
    engine = create_async_db_engine(settings, url=db_url)
    together = asyncio.Barrier(3)

    async def held() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            await together.wait()

    try:
        await asyncio.wait_for(asyncio.gather(held(), held(), held()), 60)
        assert await asyncio.to_thread(_kill_backends, db_url, settings.application_name) == 3
        with pytest.raises(DBAPIError) as failed:
            await _select_one_async(engine)
        assert failed.value.connection_invalidated
        assert [await _select_one_async(engine) for _ in range(5)] == [1] * 5
    finally:
        await engine.dispose()


async def test_a_dead_connection_met_by_a_one_statement_write_makes_the_others_prove_themselves(
    db_url: DatabaseUrl, dialect: str
) -> None:
    """The one-statement write runs on the raw driver, around SQLAlchemy's error handling.
    The first write on a dead connection is answered DatabaseUnavailable; its connection
    leaves the pool, and the others, which came back before it failed, are renewed before
    their next use: one write fails, not one per dead connection."""
    settings = _settings(db_url, idle_seconds=3600)
    async with open_store(db_url.redacted(), settings=settings, upgrade=False) as store:
        task = await store.tasks.create(title="before the kill")
        event = {"event_type": "LOG", "task_id": task.id, "content": "one"}
        await asyncio.gather(*(store.events.append(event) for _ in range(3)))
        killed = await asyncio.to_thread(_kill_backends, db_url, settings.application_name)
        assert killed >= 3
        outcomes = []
        for _ in range(killed + 2):
            try:
                outcomes.append((await store.events.append(event)).content)
            except DatabaseUnavailable:
                outcomes.append("unavailable")
        assert outcomes == ["unavailable"] + ["one"] * (killed + 1)
        listed = await store.events.list(task_id=task.id, limit=100)
        assert [e.content for e in listed.items].count("one") == 3 + killed + 1

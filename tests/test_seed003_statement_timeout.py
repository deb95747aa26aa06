"""Seed 003's command timeout (60 s in its pool): a statement that runs too long is cut off.

Flightlog's equivalent is ``FLIGHTLOG_STATEMENT_TIMEOUT_MS``, PostgreSQL's
``statement_timeout`` set on every connection the Stores and the API open.
A cancelled statement is :class:`StatementTimeout` (a ``FlightlogError``,
HTTP 504 with the usual error body), never a driver exception or a 500.
SQLite has no statement timeout: its equivalent is the busy timeout, how long
a writer waits for the write lock, which ends in ``DatabaseUnavailable``.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
from sqlalchemy import text

from api_client import app_for, client_for
from flightlog import DatabaseUnavailable, FlightlogError, StatementTimeout, Store
from flightlog.db.engine import create_async_db_engine, create_sync_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.errors import error_class, http_status
from flightlog.settings import Settings, get_settings
from flightlog.store import SyncStore

TIMEOUT_MS = 150


def _plain(url: DatabaseUrl) -> str:
    return url.url.render_as_string(hide_password=False)


def test_seed003_statement_timeout_is_a_setting_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLIGHTLOG_STATEMENT_TIMEOUT_MS", "60000")
    assert get_settings().statement_timeout_ms == 60_000
    monkeypatch.setenv("FLIGHTLOG_STATEMENT_TIMEOUT_MS", "-1")
    with pytest.raises(FlightlogError, match="FLIGHTLOG_STATEMENT_TIMEOUT_MS"):
        get_settings()
    monkeypatch.delenv("FLIGHTLOG_STATEMENT_TIMEOUT_MS")
    assert get_settings().statement_timeout_ms == 0  # off: the server's own setting applies


def test_seed003_statement_timeout_is_its_own_error_answered_504() -> None:
    error = StatementTimeout("x")
    assert isinstance(error, FlightlogError)
    assert not isinstance(error, DatabaseUnavailable)  # the database answers; retrying won't help
    assert http_status(error) == 504
    assert error_class("statement_timeout") is StatementTimeout


@pytest.fixture
async def timed_store(db_url: DatabaseUrl, test_settings: Settings) -> AsyncIterator[Store]:
    settings = test_settings.model_copy(update={"statement_timeout_ms": TIMEOUT_MS})
    engine = create_async_db_engine(settings, url=db_url)
    try:
        yield Store(engine, settings, uuid.uuid4())
    finally:
        await engine.dispose()


@pytest.fixture
def timed_sync_store(db_url: DatabaseUrl, test_settings: Settings) -> Iterator[SyncStore]:
    settings = test_settings.model_copy(update={"statement_timeout_ms": TIMEOUT_MS})
    with SyncStore(create_sync_engine(settings, url=db_url), settings, uuid.uuid4()) as store:
        yield store


@pytest.mark.postgres_only  # statement_timeout is PostgreSQL's; SQLite's equivalent is below
async def test_seed003_a_statement_past_the_timeout_is_statement_timeout(
    dialect: str, timed_store: Store
) -> None:
    async with timed_store.reader() as session:
        shown = await session.scalar(text("SHOW statement_timeout"))
        assert shown == f"{TIMEOUT_MS}ms"
        assert await session.scalar(text("SELECT pg_sleep(0.01)::text")) == ""  # short: fine
    with pytest.raises(StatementTimeout, match="statement timeout") as raised:
        async with timed_store.reader() as session:
            await session.execute(text("SELECT pg_sleep(5)"))
    assert raised.value.details["outcome"] == "not_written"
    # The pool's connection is still good afterwards.
    async with timed_store.reader() as session:
        assert await session.scalar(text("SELECT 1")) == 1


@pytest.mark.postgres_only  # statement_timeout is PostgreSQL's
def test_seed003_the_sync_store_cuts_off_long_statements_too(
    dialect: str, timed_sync_store: SyncStore
) -> None:
    with pytest.raises(StatementTimeout), timed_sync_store.reader() as session:
        session.execute(text("SELECT pg_sleep(5)"))
    with timed_sync_store.reader() as session:
        assert session.scalar(text("SHOW statement_timeout")) == f"{TIMEOUT_MS}ms"


@pytest.mark.postgres_only  # statement_timeout is PostgreSQL's
def test_seed003_migrations_and_url_options_keep_their_own_settings(
    dialect: str, db_url: DatabaseUrl, test_settings: Settings
) -> None:
    """The timeout joins libpq options given in the URL instead of replacing them."""
    settings = test_settings.model_copy(update={"statement_timeout_ms": TIMEOUT_MS})
    url = DatabaseUrl.parse(
        db_url.url.update_query_dict({"options": "-c lock_timeout=1234"}).render_as_string(
            hide_password=False
        )
    )
    engine = create_sync_engine(settings, url=url)
    try:
        with engine.connect() as connection:
            assert connection.scalar(text("SHOW statement_timeout")) == f"{TIMEOUT_MS}ms"
            assert connection.scalar(text("SHOW lock_timeout")) == "1234ms"
    finally:
        engine.dispose()


@pytest.mark.postgres_only  # statement_timeout is PostgreSQL's
async def test_seed003_http_answers_504_with_the_error_body_for_a_cancelled_statement(
    dialect: str, store: Store, db_url: DatabaseUrl
) -> None:
    """A request whose statement waits on a lock past the timeout: 504, never a 500."""
    created = await store.api_keys.create("timeout test")
    assert store.connection is not None
    await store.connection.execute(text(f"SET LOCAL statement_timeout = {TIMEOUT_MS}"))
    with psycopg.connect(_plain(db_url), autocommit=False) as blocker:
        blocker.execute("LOCK TABLE projects IN ACCESS EXCLUSIVE MODE")
        async with client_for(app_for(store), created.key) as client:
            response = await client.get("/projects")
        blocker.rollback()
    assert response.status_code == 504, response.text
    error = response.json()["error"]
    assert error["code"] == "statement_timeout"
    assert "FLIGHTLOG_STATEMENT_TIMEOUT_MS" in error["message"]
    async with client_for(app_for(store), created.key) as client:
        assert (await client.get("/projects")).status_code == 200  # and it recovers


@pytest.mark.sqlite_only  # SQLite's equivalent of a statement timeout: the busy timeout
async def test_seed003_sqlite_waits_for_the_lock_up_to_the_busy_timeout_then_unavailable(
    dialect: str, db_url: DatabaseUrl, test_settings: Settings
) -> None:
    settings = test_settings.model_copy(update={"sqlite_busy_timeout_ms": 100})
    engine = create_async_db_engine(settings, url=db_url)
    store = Store(engine, settings, uuid.uuid4())
    holder = sqlite3.connect(str(db_url.url.database), isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(DatabaseUnavailable, match="retry"):
            async with store.operator_transaction() as session:
                await session.execute(text("SELECT 1"))
    finally:
        holder.rollback()
        holder.close()
        await store.close()

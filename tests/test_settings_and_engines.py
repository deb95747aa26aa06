"""Settings resolve URLs and drivers; engines are tuned per dialect."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncEngine

from flightlog.db.engine import SQLITE_BEGIN_MODE, create_async_db_engine, create_sync_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.errors import ConfigurationError
from flightlog.settings import DEFAULT_DATABASE_URL, Settings, get_settings


def test_default_is_a_sqlite_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLIGHTLOG_DATABASE_URL", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    settings = get_settings()
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.database.dialect == "sqlite"
    assert str(settings.database.async_url).startswith("sqlite+aiosqlite:///")
    assert str(settings.database.sync_url).startswith("sqlite+pysqlite:///")


def test_flightlog_variable_wins_over_plain_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://plain@db/app")
    assert get_settings().database.dialect == "postgresql"
    monkeypatch.setenv("FLIGHTLOG_DATABASE_URL", "sqlite:///./x.db")
    assert get_settings().database.dialect == "sqlite"
    assert get_settings(database_url="postgres://u@h/d").database.dialect == "postgresql"


@pytest.mark.parametrize(
    ("raw", "async_driver", "sync_driver"),
    [
        ("postgresql://u:secret@h:5432/d", "postgresql+asyncpg", "postgresql+psycopg"),
        ("postgres://u@h/d", "postgresql+asyncpg", "postgresql+psycopg"),
        ("postgresql+psycopg2://u@h/d", "postgresql+asyncpg", "postgresql+psycopg"),
        ("sqlite:////tmp/a.db", "sqlite+aiosqlite", "sqlite+pysqlite"),
    ],
)
def test_drivers_are_chosen_by_flightlog(raw: str, async_driver: str, sync_driver: str) -> None:
    url = DatabaseUrl.parse(raw)
    assert url.async_url.drivername == async_driver
    assert url.sync_url.drivername == sync_driver
    assert "secret" not in url.redacted()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("mysql://u@h/d", "Flightlog runs on SQLite and PostgreSQL"),
        ("sqlite:///:memory:?cache=shared", "in-memory SQLite URL takes no parameters"),
        ("not a url", "Cannot parse database URL"),
    ],
)
def test_unusable_urls_are_refused_clearly(raw: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings(database_url=raw)


def test_password_never_appears_in_the_error() -> None:
    with pytest.raises(ConfigurationError) as info:
        DatabaseUrl.parse("mysql://user:hunter2@h/d")
    assert "hunter2" not in str(info.value)


def _pragma(engine: Engine, name: str) -> object:
    with engine.connect() as connection:
        return connection.exec_driver_sql(f"PRAGMA {name}").scalar()


@pytest.mark.sqlite_only
def test_sqlite_pragmas(engine: Engine, dialect: str) -> None:
    assert _pragma(engine, "journal_mode") == "wal"
    assert _pragma(engine, "foreign_keys") == 1
    assert _pragma(engine, "synchronous") == 1  # NORMAL
    assert int(str(_pragma(engine, "busy_timeout"))) >= 1000
    assert _pragma(engine, "cache_size") == -64 * 1024  # KiB: the 64 MiB default


@pytest.mark.sqlite_only
def test_sqlite_page_cache_follows_the_setting(tmp_path: Path, dialect: str) -> None:
    url = DatabaseUrl.parse(f"sqlite:///{tmp_path / 'cache.db'}")
    engine = create_sync_engine(Settings(sqlite_cache_mib=8), url=url)
    try:
        assert _pragma(engine, "cache_size") == -8 * 1024
    finally:
        engine.dispose()


@pytest.mark.sqlite_only
async def test_async_sqlite_engine_has_the_same_tuning(
    async_engine: AsyncEngine, dialect: str
) -> None:
    async with async_engine.connect() as connection:
        fks = (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar()
        mode = (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar()
    assert fks == 1
    assert mode == "wal"


@pytest.mark.sqlite_only
def test_sqlite_write_transactions_take_the_lock_at_begin(
    tmp_path: Path, dialect: str, test_settings: Settings
) -> None:
    """BEGIN IMMEDIATE: a second writer waits at BEGIN, instead of failing mid-transaction."""
    settings = Settings(sqlite_busy_timeout_ms=100)
    url = DatabaseUrl.parse(f"sqlite:///{tmp_path / 'lock.db'}")
    engine = create_sync_engine(settings, url=url)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (x INTEGER)"))
        holder = engine.connect()
        holder.begin()  # IMMEDIATE: holds the write lock without writing anything
        try:
            other = engine.connect()
            with pytest.raises(Exception, match="locked"):
                other.begin()
            other.close()
            reader = engine.connect().execution_options(**{SQLITE_BEGIN_MODE: "DEFERRED"})
            with reader.begin():
                assert reader.execute(text("SELECT count(*) FROM t")).scalar() == 0
            reader.close()
        finally:
            holder.rollback()
            holder.close()
    finally:
        engine.dispose()


@pytest.mark.sqlite_only
def test_sqlite_concurrent_writers_wait_instead_of_failing(tmp_path: Path, dialect: str) -> None:
    url = DatabaseUrl.parse(f"sqlite:///{tmp_path / 'writers.db'}")
    engine = create_sync_engine(Settings(sqlite_busy_timeout_ms=30_000), url=url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        connection.execute(text("INSERT INTO counter VALUES (0)"))
    errors: list[BaseException] = []

    def bump() -> None:
        try:
            for _ in range(25):
                with engine.begin() as connection:
                    n = connection.execute(text("SELECT n FROM counter")).scalar_one()
                    connection.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with engine.connect() as connection:
        total = connection.execute(text("SELECT n FROM counter")).scalar_one()
    engine.dispose()
    assert errors == []
    assert total == 8 * 25  # read-then-write never lost an update


@pytest.mark.postgres_only
def test_postgres_application_name_and_pool(engine: Engine, dialect: str) -> None:
    with engine.connect() as connection:
        name = connection.execute(text("SHOW application_name")).scalar()
    assert name == "flightlog"
    assert engine.pool.size() == 5  # type: ignore[attr-defined]


@pytest.mark.postgres_only
async def test_the_default_pool_keeps_what_16_requests_in_flight_opened(
    db_url: DatabaseUrl, dialect: str
) -> None:
    """A server with 16 requests in flight reuses its connections. With 10 kept open (the
    former default) the connections beyond the tenth were closed as they came back and
    opened again by the next requests: 16 HTTP clients got 1.4x fewer requests/s."""
    fields = Settings.model_fields  # the defaults, whatever FLIGHTLOG_POOL_* says here
    defaults = Settings(
        pool_size=fields["pool_size"].default, max_overflow=fields["max_overflow"].default
    )
    engine = create_async_db_engine(defaults, url=db_url)
    opened: list[object] = []
    sa_event.listen(engine.sync_engine, "connect", lambda connection, _record: opened.append(1))

    async def in_flight(together: asyncio.Barrier) -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            await together.wait()  # all 16 hold a connection at once

    try:
        for _ in range(3):
            together = asyncio.Barrier(16)
            await asyncio.wait_for(asyncio.gather(*(in_flight(together) for _ in range(16))), 60)
        assert len(opened) == 16
    finally:
        await engine.dispose()


@pytest.mark.postgres_only
async def test_async_postgres_application_name(async_engine: AsyncEngine, dialect: str) -> None:
    async with async_engine.connect() as connection:
        name = (await connection.execute(text("SHOW application_name"))).scalar()
    assert name == "flightlog"

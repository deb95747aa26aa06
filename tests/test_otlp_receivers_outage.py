"""An unreachable database: the receivers answer 503 + Retry-After with a Status, never a 500.

OTLP exporters retry a 503 after ``Retry-After``; a 500 they would drop. Both moments are
covered on each database: a database unreachable when the key is checked (nothing listens
on PostgreSQL's port; a SQLite path that cannot be opened), and one that goes away after the
key was checked and cached, while the spans are being recorded (PostgreSQL closed to
connections, as an operator does; SQLite locked past its busy timeout). The export that got
the 503 left nothing behind, and the same export succeeds once the database is back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from flightlog import open_store
from flightlog.api import create_app
from flightlog.db.engine import create_async_db_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.settings import Settings
from otlp_receiving import Kind, otlp_client, post, rejected, status, stock
from otlp_requests import JSON, PB, metrics_request
from pg_cluster import free_port
from test_otlp_receivers import workflow


def _unavailable(response: httpx.Response, content_type: str) -> None:
    message = status(response, 503, content_type)
    assert "retry" in message
    assert response.headers["Retry-After"].isdigit()


async def _both_kinds(client: httpx.AsyncClient, content_type: str) -> None:
    requests: list[tuple[Kind, Any]] = [("traces", workflow()), ("metrics", metrics_request())]
    for kind, request in requests:
        _unavailable(await post(client, kind, request, content_type), content_type)


def _unreachable_url(dialect: str, tmp_path: Path) -> str:
    if dialect == "sqlite":
        return f"sqlite:///{tmp_path}"  # a directory: SQLite cannot open it
    return f"postgresql://postgres@127.0.0.1:{free_port()}/flightlog"


@pytest.mark.parametrize("content_type", [PB, JSON])
async def test_a_database_unreachable_when_the_key_is_checked_is_503(
    dialect: str, tmp_path: Path, test_settings: Settings, content_type: str
) -> None:
    url = DatabaseUrl.parse(_unreachable_url(dialect, tmp_path))
    settings = test_settings.model_copy(update={"database_url": url.redacted()})
    engine = create_async_db_engine(settings, url=url)
    try:
        app = create_app(settings, engine=engine, dashboard=False)
        # A well-formed key: only the database can tell whether it is one.
        async with otlp_client(app, "fl_0123abcd_" + "k" * 43) as client:
            await _both_kinds(client, content_type)
    finally:
        await engine.dispose()


@contextmanager
def _database_gone(dialect: str, url: DatabaseUrl) -> Iterator[None]:
    """The database stops serving writes: SQLite locked, PostgreSQL closed to connections."""
    if dialect == "sqlite":
        database = url.url.database
        assert database is not None
        writer = sqlite3.connect(database, isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE customers SET name = name")
        try:
            yield
        finally:
            writer.execute("ROLLBACK")
            writer.close()
        return
    admin = url.url.set(drivername="postgresql", database="postgres")
    name = url.url.database
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as db:
        db.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        try:
            yield
        finally:
            db.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


@pytest.mark.parametrize("content_type", [PB, JSON])
async def test_a_database_lost_while_recording_is_503_and_nothing_is_written(
    dialect: str, fresh_head_url: DatabaseUrl, test_settings: Settings, content_type: str
) -> None:
    settings = test_settings.model_copy(
        update={"sqlite_busy_timeout_ms": 200, "api_key_cache_seconds": 3600.0}
    )
    url = fresh_head_url.url.render_as_string(hide_password=False)
    async with open_store(url, settings=settings) as store:
        key = (await store.api_keys.create("outage")).key
        app = create_app(settings, engine=store.engine, dashboard=False)
        async with otlp_client(app, key) as client:
            # Verified and cached: the outage meets the recording, not the key check.
            assert rejected(await post(client, "metrics", metrics_request())) == (0, "")
            before = await stock(store)
            with _database_gone(dialect, fresh_head_url):
                await _both_kinds(client, content_type)
            assert await stock(store) == before
            # The exporter's retry, once the database is back, records the trace once.
            retried = await post(client, "traces", workflow(), content_type)
            assert rejected(retried, content_type) == (0, "")
            assert len((await stock(store)).spans - before.spans) == 3

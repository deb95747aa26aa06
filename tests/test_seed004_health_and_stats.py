"""Seed 004's ``db_manager.health_check()`` and ``get_comprehensive_stats()`` in Flightlog.

``store.health()`` answers whether the database is reachable, its latency,
schema revision and the pool's state, and never raises for a database that
is down; ``store.stats()`` the pool, row counts, database size and index
usage. Both Stores, both dialects.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from api_client import app_for, client_for, client_of, error_code, ok
from cli_runner import make_cli, url_of
from flightlog import AsyncClient, PermissionDenied, Store, SyncStore, ValidationError
from flightlog.api import create_app
from flightlog.api.context import ApiContext
from flightlog.db.engine import create_async_db_engine, create_sync_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.migrations.runner import shipped_head
from flightlog.schemas.health import DatabaseHealth, DatabaseStatistics, HealthDetail
from flightlog.services.api_keys import VerifiedKey
from flightlog.settings import Settings
from pg_cluster import free_port
from waiting import wait_until


def _assert_healthy(health: DatabaseHealth, dialect: str) -> None:
    assert health.reachable is True
    assert health.status == "ok"
    assert health.error is None
    assert health.dialect == dialect
    assert health.schema_revision == shipped_head() == health.head_revision
    assert health.schema_at_head is True
    assert health.latency_ms is not None
    assert health.latency_ms >= 0
    assert health.server_version
    assert health.pool.kind
    assert health.pool.checked_out is not None
    assert health.pool.checked_out >= 0
    if dialect == "postgresql":
        assert (health.pool.size, health.pool.max_overflow) == (5, 40)  # test_settings
        assert health.statement_timeout == "0"
        assert health.busy_timeout_ms is None
    else:
        assert health.statement_timeout is None
        assert health.busy_timeout_ms == 60_000


async def test_seed004_health_check_reports_reachable_latency_revision_and_pool(
    dialect: str, store: Store
) -> None:
    _assert_healthy(await store.health(), dialect)


def test_seed004_health_check_on_the_sync_store(dialect: str, sync_store: SyncStore) -> None:
    _assert_healthy(sync_store.health(), dialect)


async def test_seed004_health_refuses_a_timeout_that_is_not_positive(store: Store) -> None:
    with pytest.raises(ValidationError, match="timeout_seconds"):
        await store.health(timeout_seconds=0)


def _unreachable_url(dialect: str, tmp_path: Path) -> DatabaseUrl:
    """A database that cannot be reached: nothing listens on the port, or its file cannot be
    opened (a directory stands where the file should be, which nothing can replace)."""
    if dialect == "postgresql":
        return DatabaseUrl.parse(f"postgresql://flightlog:s3cret@127.0.0.1:{free_port()}/nowhere")
    path = tmp_path / "gone" / "flightlog.db"
    path.mkdir(parents=True)
    return DatabaseUrl.parse(f"sqlite:///{path}")


def _wait_for_aiosqlite_threads(started: set[threading.Thread]) -> None:
    """aiosqlite stops the thread of a connection that failed to open without waiting for it;
    let it finish while the test's event loop is still open to take its last callback."""
    workers = {t for t in started if "_connection_worker_thread" in t.name}
    wait_until(lambda: not any(t.is_alive() for t in workers), 10, "aiosqlite's threads end")


def _assert_unreachable(health: DatabaseHealth, dialect: str) -> None:
    assert health.reachable is False
    assert health.status == "unavailable"
    assert health.latency_ms is None
    assert health.schema_revision is None
    assert health.error is not None
    assert health.error.startswith("Cannot reach the database at")
    assert "\n" not in health.error
    assert "s3cret" not in health.error
    assert "s3cret" not in health.database
    assert health.dialect == dialect


async def test_seed004_health_does_not_raise_when_the_database_is_unreachable(
    dialect: str, tmp_path: Path, test_settings: Settings
) -> None:
    url = _unreachable_url(dialect, tmp_path)
    engine = create_async_db_engine(test_settings, url=url)
    store = Store(engine, test_settings, uuid.uuid4())
    before = set(threading.enumerate())
    try:
        health = await store.health(timeout_seconds=10)
    finally:
        await store.close()
    _assert_unreachable(health, dialect)
    # aiosqlite stops the thread of a connection that failed to open without waiting for it;
    # let it finish while this test's event loop is still open to take its last callback.
    _wait_for_aiosqlite_threads(set(threading.enumerate()) - before)


def test_seed004_sync_health_does_not_raise_when_the_database_is_unreachable(
    dialect: str, tmp_path: Path, test_settings: Settings
) -> None:
    url = _unreachable_url(dialect, tmp_path)
    engine = create_sync_engine(test_settings, url=url)
    with SyncStore(engine, test_settings, uuid.uuid4()) as store:
        _assert_unreachable(store.health(), dialect)


def _assert_statistics(stats: DatabaseStatistics, dialect: str) -> None:
    assert stats.dialect == dialect
    assert stats.revision == shipped_head()
    assert stats.counts["tasks"] >= 1
    assert stats.counts["customers"] >= 1
    assert stats.size_bytes is not None
    assert stats.size_bytes > 0
    assert stats.pool.checked_out is not None
    assert stats.pool.checked_out >= 1
    assert stats.pool.overflow is not None
    assert stats.pool.overflow >= 0
    if stats.index_usage is not None:
        names = {(row.table, row.index) for row in stats.index_usage}
        assert ("tasks", "ix_tasks_customer_status_created") in names, sorted(names)[:5]


async def test_seed004_comprehensive_stats_pool_counts_size_and_index_usage(
    dialect: str, store: Store
) -> None:
    await store.tasks.create(title="counted")
    stats = await store.stats()
    _assert_statistics(stats, dialect)
    assert stats.model_dump(mode="json")["counts"]["tasks"] == stats.counts["tasks"]


def test_seed004_comprehensive_stats_on_the_sync_store(dialect: str, sync_store: SyncStore) -> None:
    sync_store.tasks.create(title="counted")
    _assert_statistics(sync_store.stats(), dialect)


def test_seed004_flightlog_stats_json_has_the_pool_and_index_usage(
    dialect: str,
    db_url: DatabaseUrl,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli = make_cli(monkeypatch, capsys, tmp_path)
    monkeypatch.setenv("FLIGHTLOG_POOL_SIZE", "3")
    code, out, err = cli("stats", "--json", "-d", url_of(db_url))
    assert code == 0, err
    document = json.loads(out)
    expected = DatabaseStatistics.model_validate(document)  # the same model as store.stats()
    assert expected.dialect == dialect
    assert document["pool"]["checked_out"] == 1  # the CLI's own connection, while counting
    if dialect == "postgresql":
        assert document["pool"]["size"] == 3
    assert document["index_usage"] is None or len(document["index_usage"]) > 10


async def test_seed004_http_health_detail_for_an_operator_key(dialect: str, store: Store) -> None:
    await store.tasks.create(title="counted")
    async with client_of(store, "operator") as api:
        plain = ok(await api.get("/health"))
        detailed = ok(await api.get("/health", params={"detail": "true"}))
    assert set(plain) == {"status", "database", "schema_revision"}
    body = HealthDetail.model_validate(detailed)
    assert (body.status, body.database) == ("ok", dialect)
    assert body.schema_revision == shipped_head()
    _assert_healthy(body.health, dialect)
    assert body.statistics is not None
    _assert_statistics(body.statistics, dialect)


@pytest.mark.parametrize("scopes", [(), ("read",), ("read", "write")])
async def test_seed004_http_health_detail_is_plain_for_other_keys(
    store: Store, scopes: tuple[str, ...]
) -> None:
    """A tenant's key (even one with every permission) must not see every customer's counts."""
    async with client_of(store, *scopes) as api:
        body = ok(await api.get("/health", params={"detail": "true"}))
        assert set(body) == {"status", "database", "schema_revision"}
        api.headers["Authorization"] = "Bearer fl_00000000_" + "x" * 43  # an unknown key
        assert set(ok(await api.get("/health", params={"detail": "true"}))) == set(body)
        del api.headers["Authorization"]  # no key at all: a load balancer's probe
        assert set(ok(await api.get("/health", params={"detail": "true"}))) == set(body)
        assert error_code(await api.get("/health", params={"detail": "maybe"}), 422)


async def test_seed004_http_health_detail_when_the_database_is_down(
    dialect: str, tmp_path: Path, test_settings: Settings
) -> None:
    """An operator key the server still remembers sees why: 503 with health.reachable false."""
    url = _unreachable_url(dialect, tmp_path)
    engine = create_async_db_engine(test_settings, url=url)
    app = create_app(test_settings, engine=engine, dashboard=False)
    key = "fl_0123abcd_" + "k" * 43
    context: ApiContext = app.state.flightlog
    # As if verified a moment before the database went away (keys are remembered for a while).
    remembered = VerifiedKey(customer_id=uuid.uuid4(), key_id=uuid.uuid4(), scopes=["operator"])
    context.keys._remember(hashlib.sha256(key.encode()).hexdigest(), remembered, time.monotonic())
    before = set(threading.enumerate())
    try:
        async with client_for(app, key) as api:
            detailed = await api.get("/health", params={"detail": "true"})
            plain = await api.get("/health")
    finally:
        await engine.dispose()
    _wait_for_aiosqlite_threads(set(threading.enumerate()) - before)
    assert plain.status_code == detailed.status_code == 503
    assert detailed.headers["Retry-After"].isdigit()
    body = HealthDetail.model_validate(detailed.json())
    assert body.status == "unavailable"
    assert body.statistics is None
    _assert_unreachable(body.health, dialect)
    assert set(plain.json()) == {"status", "database", "schema_revision"}


@pytest.mark.parametrize("scopes", [("operator",), ("read",)])
async def test_seed004_the_http_client_reads_health_detail(
    dialect: str, store: Store, scopes: tuple[str, ...]
) -> None:
    key = (await store.api_keys.create("client", scopes=scopes)).key
    transport = httpx.ASGITransport(app=app_for(store))
    async with AsyncClient("http://flightlog.test", key, transport=transport) as fl:
        if "operator" not in scopes:
            with pytest.raises(PermissionDenied, match="operator"):
                await fl.health_detail()
            assert (await fl.health()).status == "ok"
            return
        detail = await fl.health_detail()
    assert isinstance(detail, HealthDetail)
    _assert_healthy(detail.health, dialect)
    assert detail.statistics is not None
    assert detail.statistics.dialect == dialect

"""Real databases for every test: SQLite files and a PostgreSQL server.

Each test session creates its own PostgreSQL database (and drops it at the
end); each test runs inside a transaction that is rolled back, so tests never
delete rows to clean up and never see each other's data.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest

# pytest-xdist starts its workers with COLUMNS=80 and LINES=24. A rich Console fixes its width
# when COLUMNS is set at its creation, and the CLI's consoles are created at import, so every
# table would be cut at 80 columns whatever a test asks for. Tests set COLUMNS themselves.
os.environ.pop("COLUMNS", None)
os.environ.pop("LINES", None)
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from api_client import release_apps
from cli_runner import CliCase, make_cli, url_of
from flightlog.db.engine import create_async_db_engine, create_sync_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.migrations.runner import Migrator
from flightlog.models import Customer
from flightlog.settings import Settings
from flightlog.store import Store
from flightlog.store.sync import SyncStore
from head_template import copy_of_head
from postgres_server import (
    DIALECTS,
    PostgresServer,
    _conninfo,
    _postgres_required,
    _postgres_server_url,
)
from program_runner import ForkServer, program_environment
from two_tenants import World


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer | None]:
    """The PostgreSQL server, or None (tests then skip loudly, or fail in CI)."""
    url = DatabaseUrl.parse(_postgres_server_url())
    try:
        with psycopg.connect(_conninfo(url), connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        reason = (
            f"PostgreSQL at {url.redacted()} is unreachable ({exc}); "
            "PostgreSQL tests are NOT running. Set FLIGHTLOG_TEST_POSTGRES_URL."
        )
        if _postgres_required():
            pytest.fail(f"FLIGHTLOG_REQUIRE_POSTGRES=1 but {reason}", pytrace=False)
        print(f"\n*** WARNING: {reason} ***\n")
        yield None
        return
    server = PostgresServer(url)
    yield server
    for name in list(server.created):
        server.drop_database(DatabaseUrl.parse(url.url.set(database=name)))


def _require_postgres(server: PostgresServer | None) -> PostgresServer:
    if server is None:
        pytest.skip("PostgreSQL server unreachable: see the warning at the start of the run")
    return server


@pytest.fixture(scope="session")
def test_settings() -> Settings:
    """Settings with a small pool: tests open many engines."""
    return Settings(pool_size=5, max_overflow=40, sqlite_busy_timeout_ms=60_000)


@pytest.fixture(scope="session")
def _migrated_urls(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_server: PostgresServer | None,
    test_settings: Settings,
) -> dict[str, DatabaseUrl]:
    """One database per dialect at head, shared by the session (lazily created)."""
    return {}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that takes ``dialect`` on each dialect it applies to.

    Tests marked ``sqlite_only`` or ``postgres_only`` are generated for that
    dialect alone, rather than generated and skipped on the other.
    """
    if "dialect" not in metafunc.fixturenames:
        return
    marks = {mark.name for mark in metafunc.definition.iter_markers()}
    dialects = [
        name
        for name in DIALECTS
        if not (name == "postgresql" and "sqlite_only" in marks)
        and not (name == "sqlite" and "postgres_only" in marks)
    ]
    metafunc.parametrize("dialect", dialects)


@pytest.fixture
def db_url(
    dialect: str,
    _migrated_urls: dict[str, DatabaseUrl],
    tmp_path_factory: pytest.TempPathFactory,
    postgres_server: PostgresServer | None,
    test_settings: Settings,
) -> DatabaseUrl:
    """A database of the requested dialect, migrated to head once per session."""
    if dialect not in _migrated_urls:
        if dialect == "sqlite":
            path = tmp_path_factory.mktemp("sqlite") / "flightlog.db"
            url = DatabaseUrl.parse(f"sqlite:///{path}")
        else:
            url = _require_postgres(postgres_server).create_database()
        Migrator(test_settings, url).upgrade("head")
        _migrated_urls[dialect] = url
    return _migrated_urls[dialect]


@pytest.fixture
def fresh_url(
    dialect: str,
    tmp_path: Path,
    postgres_server: PostgresServer | None,
) -> Iterator[DatabaseUrl]:
    """An empty database of the requested dialect, just for this test."""
    if dialect == "sqlite":
        yield DatabaseUrl.parse(f"sqlite:///{tmp_path / 'fresh.db'}")
        return
    server = _require_postgres(postgres_server)
    url = server.create_database("flightlog_fresh")
    yield url
    server.drop_database(url)


@pytest.fixture
def cli_case(
    fresh_url: DatabaseUrl,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    test_settings: Settings,
) -> CliCase:
    """The console script on an empty database of the requested dialect, blobs under tmp_path."""
    settings = test_settings.model_copy(update={"blob_dir": tmp_path / "blobs"})
    monkeypatch.setenv("FLIGHTLOG_BLOB_DIR", str(settings.blob_dir))
    run = make_cli(monkeypatch, capsys, tmp_path)
    return CliCase(fresh_url, url_of(fresh_url), settings, run, monkeypatch)


@pytest.fixture
def fresh_head_url(
    dialect: str,
    tmp_path: Path,
    postgres_server: PostgresServer | None,
    test_settings: Settings,
) -> Iterator[DatabaseUrl]:
    """A database of the requested dialect at head with no rows, just for this test
    (a copy of a template migrated once per test process: see head_template)."""
    server = None if dialect == "sqlite" else _require_postgres(postgres_server)
    url = copy_of_head(dialect, tmp_path / "fresh.db", server, test_settings)
    yield url
    if server is not None:
        server.drop_database(url)


@pytest.fixture(scope="session")
def _engines() -> Iterator[dict[str, Engine]]:
    engines: dict[str, Engine] = {}
    yield engines
    for engine in engines.values():
        engine.dispose()


@pytest.fixture
def engine(db_url: DatabaseUrl, _engines: dict[str, Engine], test_settings: Settings) -> Engine:
    """A sync engine on the migrated database (one per dialect per session)."""
    key = db_url.redacted()
    if key not in _engines:
        _engines[key] = create_sync_engine(test_settings, url=db_url)
    return _engines[key]


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session inside an outer transaction that is rolled back after the test.

    ``commit()`` inside the test only releases a savepoint, so the test can
    commit, and even fail a statement inside ``begin_nested()``, and still
    leave nothing behind.
    """
    with engine.connect() as connection:
        transaction = connection.begin()
        db = Session(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            yield db
        finally:
            db.close()
            if transaction.is_active:
                transaction.rollback()


@pytest.fixture
async def async_engine(db_url: DatabaseUrl, test_settings: Settings) -> AsyncIterator[AsyncEngine]:
    """An async engine on the migrated database, disposed after the test."""
    engine = create_async_db_engine(test_settings, url=db_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def async_session(async_engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """Async twin of ``session``: everything rolled back after the test."""
    async with async_engine.connect() as connection:
        transaction = await connection.begin()
        db = AsyncSession(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            yield db
        finally:
            await db.close()
            if transaction.is_active:
                await transaction.rollback()


@pytest.fixture
async def store(
    async_engine: AsyncEngine, test_settings: Settings, tmp_path: Path
) -> AsyncIterator[Store]:
    """A Store for a new customer, inside a transaction rolled back after the test.

    Every ``store.*`` call commits only a savepoint; nothing outlives the test.
    Concurrency tests, which need real commits, use ``fresh_url`` instead.
    """
    settings = test_settings.model_copy(update={"blob_dir": tmp_path / "blobs"})
    async with async_engine.connect() as connection:
        transaction = await connection.begin()
        async with AsyncSession(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        ) as s:
            customer = Customer(name="Test", email=f"{uuid.uuid4().hex}@test.local")
            s.add(customer)
            await s.commit()
            customer_id = customer.id
        try:
            yield Store(async_engine, settings, customer_id, connection=connection)
        finally:
            if transaction.is_active:
                await transaction.rollback()


@pytest.fixture
async def other(store: Store) -> Store:
    """A second customer's Store on the same rolled-back connection (tenant-isolation tests)."""
    async with store.transaction() as s:
        customer = Customer(name="Other", email=f"{uuid.uuid4().hex}@other.test")
        s.add(customer)
    return Store(store.engine, store.settings, customer.id, connection=store.connection)


@pytest.fixture
def owner(store: Store) -> World:
    """Customer A's rows, which customer B asks for (tenant-isolation tests)."""
    return World(store)


@pytest.fixture
def mine(other: Store) -> World:
    """Customer B's own rows, for requests that need one (B's task, to point at A's run)."""
    return World(other)


@pytest.fixture(scope="session")
def fork_server() -> Iterator[ForkServer]:
    """This worker's fork server for the doc examples (see ``program_runner``)."""
    server = ForkServer(program_environment())
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _apps_released() -> Iterator[None]:
    """The API apps a test was handed go back to ``app_for``'s pool when it ends."""
    yield
    release_apps()


@pytest.fixture(autouse=True)
def _recursion_limit_kept() -> Iterator[None]:
    """mypy's in-process API (the typing tests) raises the interpreter's recursion limit and
    leaves it raised; restore it so later tests see the limit a user's program has."""
    limit = sys.getrecursionlimit()
    yield
    sys.setrecursionlimit(limit)


@pytest.fixture
def sync_store(engine: Engine, test_settings: Settings, tmp_path: Path) -> Iterator[SyncStore]:
    """A SyncStore for a new customer inside a transaction rolled back after the test."""
    settings = test_settings.model_copy(update={"blob_dir": tmp_path / "blobs"})
    with engine.connect() as connection:
        transaction = connection.begin()
        with Session(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        ) as s:
            customer = Customer(name="Sync", email=f"{uuid.uuid4().hex}@test.local")
            s.add(customer)
            s.commit()
            customer_id = customer.id
        try:
            yield SyncStore(engine, settings, customer_id, connection=connection)
        finally:
            if transaction.is_active:
                transaction.rollback()

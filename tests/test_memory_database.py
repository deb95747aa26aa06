"""Seed 000 runs its unit tests on in-memory SQLite: ``sqlite:///:memory:`` works.

Every Store opened on it gets a new, private database at the schema's head on
one shared connection; its calls take turns; it is gone when the Store
closes. Commands and servers, which would each meet a new empty database of
their own, refuse it in one sentence. In-memory databases exist on SQLite only,
so these tests run there alone (``sqlite_only``).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from cli_runner import Cli, make_cli
from flightlog import ConfigurationError, MigrationError, RunStatus, ValidationError, open_store
from flightlog.db.urls import DatabaseUrl
from flightlog.migrations.runner import Migrator, shipped_head
from flightlog.models import Task
from flightlog.settings import Settings
from flightlog.store import open_store_sync

pytestmark = pytest.mark.sqlite_only

MEMORY = "sqlite:///:memory:"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # A blob directory of the test's own, to show that nothing is ever written there.
    return Settings(blob_dir=tmp_path / "blobs", inline_artifact_max_bytes=1024)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Cli:
    return make_cli(monkeypatch, capsys, tmp_path)


async def test_seed000_a_store_on_sqlite_memory_holds_the_whole_schema(
    dialect: str, settings: Settings, tmp_path: Path
) -> None:
    async with open_store(MEMORY, settings=settings) as store:
        async with store.reader() as s:
            revision = await s.scalar(text("SELECT version_num FROM alembic_version"))
        assert revision == shipped_head()
        task = await store.tasks.create(title="Market Analysis", config={"model": "gpt-4"})
        run = await store.runs.start(task.id, started_at=T0)
        await store.metrics.record(
            {"name": "cpu_usage", "value": 75.5, "unit": "%", "run_id": run.id}
        )
        report = await store.artifacts.put(task.id, "report.md", "# Report\n" + "x" * 4096)
        done = await store.runs.finish(run.id, duration_seconds=120.5)
        assert done.completed_at == T0 + timedelta(seconds=120.5)
        assert (await store.artifacts.read(report.id)).startswith(b"# Report")
        assert (await store.tasks.get(task.id)).status.value == "COMPLETED"
        # Larger than the inline limit, yet kept in the database: nothing outlives it on disk.
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # noqa: ASYNC240


async def test_seed000_each_memory_store_is_private_and_lost_when_closed(
    dialect: str, settings: Settings
) -> None:
    async with open_store(MEMORY, settings=settings) as first:
        await first.tasks.create(title="only here")
        async with open_store(MEMORY, settings=settings) as second:
            assert (await second.tasks.list()).items == []
        assert [t.title for t in (await first.tasks.list()).items] == ["only here"]
    async with open_store(MEMORY, settings=settings) as again:
        assert (await again.tasks.list()).items == []
    # upgrade=False cannot mean "an existing schema": there is none before the Store.
    async with open_store(MEMORY, settings=settings, upgrade=False) as plain:
        assert (await plain.tasks.create(title="fine")).title == "fine"


async def test_seed000_concurrent_calls_take_turns_on_the_one_connection(
    dialect: str, settings: Settings
) -> None:
    async with open_store(MEMORY, settings=settings) as store:
        task = await store.tasks.create(title="busy")
        writes = [store.tasks.create(title=f"t{i}") for i in range(25)]
        reads = [store.tasks.get(task.id) for _ in range(25)]
        results = await asyncio.gather(*writes, *reads, store.runs.start(task.id))
        assert len(results) == 51
        assert len((await store.tasks.list(limit=100)).items) == 26
        # A failing write rolls back its own work only, and the connection goes on.
        run = await store.runs.get(results[-1].id)
        with pytest.raises(ValidationError, match="before the start"):
            await store.runs.finish(run.id, completed_at=T0 - timedelta(days=1))
        assert (await store.runs.get(run.id)).status is RunStatus.RUNNING


async def test_seed000_a_store_call_inside_a_memory_transaction_is_refused_not_hung(
    dialect: str, settings: Settings
) -> None:
    async with open_store(MEMORY, settings=settings) as store:
        async with store.transaction() as session:
            session.add(Task(customer_id=store.customer_id, title="composed"))
            with pytest.raises(ConfigurationError, match="one connection"):
                await asyncio.wait_for(store.tasks.list(), timeout=30)
        titles = [t.title for t in (await store.tasks.list()).items]
        assert titles == ["composed"]


def test_seed000_the_sync_store_on_memory_serialises_threads(
    dialect: str, settings: Settings
) -> None:
    with open_store_sync(MEMORY, settings=settings) as store:
        task = store.tasks.create(title="threads")
        with ThreadPoolExecutor(max_workers=8) as pool:
            made = list(pool.map(lambda i: store.tasks.create(title=f"w{i}"), range(40)))
            read = list(pool.map(lambda _: store.tasks.get(task.id), range(40)))
        assert len({t.id for t in made}) == 40
        assert {t.title for t in read} == {"threads"}
        assert len(store.tasks.list(limit=100).items) == 41
        with store.session() as db:
            assert len(db.scalars(select(Task)).all()) == 41
        with store.transaction(), pytest.raises(ConfigurationError, match="one connection"):
            store.tasks.get(task.id)
        art = store.artifacts.put(task.id, "log.txt", "line\n")
        assert store.artifacts.read(art.id) == b"line\n"
    with open_store_sync(MEMORY, settings=settings) as fresh:
        assert fresh.tasks.list().items == []


def test_seed000_memory_urls_are_spelled_one_way() -> None:
    for raw in ("sqlite://", "sqlite:///:memory:", "sqlite+aiosqlite:///:memory:"):
        assert DatabaseUrl.parse(raw).is_memory
    assert not DatabaseUrl.parse("sqlite:///./memory.db").is_memory
    with pytest.raises(ConfigurationError, match="takes no parameters"):
        DatabaseUrl.parse("sqlite:///:memory:?cache=shared")
    # SQLite's URI spelling once opened an empty database per connection: "no such table".
    for raw in ("sqlite:///file::memory:?uri=true", "sqlite:///file:x?mode=memory&uri=true"):
        with pytest.raises(ConfigurationError, match="write 'sqlite:///:memory:'"):
            DatabaseUrl.parse(raw)
    assert not DatabaseUrl.parse("sqlite:///file:x.db?uri=true").is_memory


def test_seed000_nothing_migrates_a_memory_database_from_outside(settings: Settings) -> None:
    with pytest.raises(MigrationError, match="create its schema when they open it"):
        Migrator(settings, DatabaseUrl.parse(MEMORY)).upgrade()


@pytest.mark.parametrize(
    "command",
    [("serve", "--port", "1"), ("db", "upgrade"), ("seed",), ("stats",), ("demo",)],
    ids=" ".join,
)
def test_seed000_commands_refuse_a_memory_database_in_one_sentence(
    dialect: str, command: tuple[str, ...], cli: Cli, tmp_path: Path
) -> None:
    code, _, err = cli(*command, "-d", MEMORY)
    assert code != 0
    assert "in-memory SQLite database" in err
    assert "Traceback" not in err
    assert not [p for p in tmp_path.rglob("*") if "memory" in p.name]


async def test_seed000_the_app_refuses_a_memory_database_it_would_open_itself(
    dialect: str, settings: Settings
) -> None:
    from flightlog.api import create_app

    app = create_app(settings.model_copy(update={"database_url": MEMORY}))
    with pytest.raises(ConfigurationError, match="in-memory SQLite database"):
        async with app.router.lifespan_context(app):
            pass


async def test_seed000_an_app_on_a_memory_stores_engine_serves_concurrent_requests(
    dialect: str, settings: Settings
) -> None:
    """Embedding: ``create_app(engine=store.engine)`` makes a Store per request, and all of
    them take turns on the one connection."""
    import httpx

    from flightlog.api import create_app

    async with open_store(MEMORY, settings=settings) as store:
        key = (await store.api_keys.create("tests")).key
        app = create_app(store.settings, engine=store.engine)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://flightlog.test/api/v1",
            headers={"Authorization": f"Bearer {key}"},
        ) as api:
            answers = await asyncio.gather(
                *[api.post("/tasks", json={"title": f"t{i}"}) for i in range(15)],
                *[api.get("/tasks") for _ in range(15)],
            )
        assert [a.status_code for a in answers] == [201] * 15 + [200] * 15
        assert len((await store.tasks.list(limit=100)).items) == 15

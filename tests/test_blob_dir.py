"""The blob directory follows the database, not the working directory (issue 10, defect 7)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from cli_runner import Cli, make_cli, one_sentence, url_of
from flightlog import open_store
from flightlog.api.context import ApiContext
from flightlog.db.engine import create_sync_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.models import Artifact, ArtifactBlob, Task
from flightlog.settings import Settings
from postgres_server import PostgresServer

BIG = bytes(range(256)) * 400  # past the inline limit: stored as a file


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    made = {name: tmp_path / name for name in ("elsewhere", "other", "third", "xdg")}
    for path in made.values():
        path.mkdir()
    return made


@pytest.fixture
def cli(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    dirs: dict[str, Path],
) -> Cli:
    """No FLIGHTLOG_BLOB_DIR: the default decides. The per-user data directory (PostgreSQL's
    default) is kept inside the test's own directory."""
    monkeypatch.delenv("FLIGHTLOG_BLOB_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(dirs["xdg"]))
    return make_cli(monkeypatch, capsys, dirs["elsewhere"])


@pytest.fixture
def target_url(
    dialect: str, dirs: dict[str, Path], postgres_server: PostgresServer | None
) -> Iterator[DatabaseUrl]:
    """A second database to import into."""
    if dialect == "sqlite":
        yield DatabaseUrl.parse(f"sqlite:///{dirs['third'] / 'restored.db'}")
        return
    if postgres_server is None:
        pytest.skip("PostgreSQL server unreachable: see the warning at the start of the run")
    url = postgres_server.create_database("flightlog_target")
    yield url
    postgres_server.drop_database(url)


def _file_blobs(url: DatabaseUrl, settings: Settings) -> list[tuple[str, str]]:
    engine = create_sync_engine(settings, url=url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(ArtifactBlob.sha256, ArtifactBlob.storage_path).where(
                    ArtifactBlob.storage_path.is_not(None)
                )
            ).all()
    finally:
        engine.dispose()
    return [(sha, str(path)) for sha, path in rows]


LOCAL_SPELLINGS = ("localhost", "LocalHost", "127.0.0.1", "127.0.0.2", "[::1]", "")


def _documented_blob_dir(url: DatabaseUrl, dirs: dict[str, Path]) -> Path:
    """The default docs/api.md promises, written out rather than asked of the code."""
    if url.dialect == "sqlite":
        database = Path(str(url.url.database))
        return database.parent / f"{database.stem}-blobs"
    host = url.url.host or ""
    local = host.lower() in ("localhost", "::1", "") or host.startswith(("127.", "/"))
    label = f"{'localhost' if local else host}-{url.url.port or 5432}-{url.url.database}"
    return dirs["xdg"] / "flightlog" / "blobs" / label


def test_the_default_follows_the_database(dirs: dict[str, Path], cli: Cli) -> None:
    from flightlog.settings import default_blob_dir

    sqlite = DatabaseUrl.parse("sqlite:///../elsewhere/data/team.db")  # cwd: elsewhere
    assert default_blob_dir(sqlite) == dirs["elsewhere"] / "data" / "team-blobs"
    postgres = DatabaseUrl.parse("postgresql://app@db.example:6543/flight")
    assert (
        default_blob_dir(postgres) == dirs["xdg"] / "flightlog" / "blobs" / "db.example-6543-flight"
    )
    assert Settings(database_url="sqlite:///x/flightlog.db").resolved_blob_dir() == (
        dirs["elsewhere"] / "x" / "flightlog-blobs"
    )


def test_every_spelling_of_one_postgres_server_is_one_blob_directory(
    dirs: dict[str, Path], cli: Cli
) -> None:
    """Issue 10 review: the default must not depend on how the host is written. Loopback
    addresses, ``localhost`` in any case, a Unix socket (in the host or as ``?host=``) and no
    host at all are this machine; a missing port is 5432. Another port, host or database
    is another directory."""
    from flightlog.settings import default_blob_dir

    def blob_dir(url: str) -> Path:
        return default_blob_dir(DatabaseUrl.parse(url))

    expected = dirs["xdg"] / "flightlog" / "blobs" / "localhost-5432-flight"
    spellings = [
        f"postgresql://app@{host}{port}/flight"
        for host in LOCAL_SPELLINGS
        for port in ("", ":5432")
        if host or not port
    ] + [
        "postgresql:///flight",
        "postgresql://app@/flight?host=/var/run/postgresql",
        "postgresql://app@%2Ftmp/flight",
        "postgresql://app@/flight?host=/tmp&port=5432",
        "postgres://app:secret@localhost:5432/flight?sslmode=disable",
    ]
    assert {url: blob_dir(url) for url in spellings} == dict.fromkeys(spellings, expected)
    others = {
        "postgresql://app@localhost:5433/flight": "localhost-5433-flight",
        "postgresql://app@/flight?host=/tmp&port=6000": "localhost-6000-flight",
        "postgresql://app@localhost/other": "localhost-5432-other",
        "postgresql://app@DB.example/flight": "db.example-5432-flight",
        "postgresql://app@10.0.0.7:5432/flight": "10.0.0.7-5432-flight",
    }
    assert {url: blob_dir(url).name for url in others} == others


@pytest.mark.postgres_only
def test_blobs_written_through_one_spelling_are_exported_through_another(
    dialect: str, fresh_url: DatabaseUrl, test_settings: Settings, cli: Cli, dirs: dict[str, Path]
) -> None:
    """A Store on ``127.0.0.1:5432`` writes a blob file; ``flightlog export`` given
    ``localhost`` without a port finds it."""
    assert fresh_url.url.host in ("127.0.0.1", "localhost")
    written = url_of(DatabaseUrl.parse(fresh_url.url.set(host="127.0.0.1", port=5432)))
    exported = url_of(DatabaseUrl.parse(fresh_url.url.set(host="localhost", port=None)))

    async def write() -> Path:
        async with open_store(written, settings=test_settings) as store:
            task = await store.tasks.create(title="Train")
            await store.artifacts.put(task.id, "model.bin", BIG)
            return store.blob_policy.blob_dir

    assert asyncio.run(write()) == _documented_blob_dir(fresh_url, dirs)
    code, _, err = cli("export", "out.jsonl", "-d", exported)
    assert code == 0, one_sentence(err)
    lines = (dirs["elsewhere"] / "out.jsonl").read_text().splitlines()
    assert any('"file_content"' in line for line in lines)


def test_a_relative_setting_is_made_absolute_once(
    dirs: dict[str, Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLIGHTLOG_BLOB_DIR", "shared-blobs")
    settings = Settings()
    monkeypatch.chdir(dirs["other"])
    assert settings.resolved_blob_dir() == dirs["elsewhere"] / "shared-blobs"
    assert settings.resolved_blob_dir(DatabaseUrl.parse("sqlite:///y.db")) == (
        dirs["elsewhere"] / "shared-blobs"
    )


def test_demo_blobs_export_and_import_from_other_directories(
    fresh_url: DatabaseUrl,
    target_url: DatabaseUrl,
    dirs: dict[str, Path],
    test_settings: Settings,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The demo runs in `elsewhere` (on SQLite: its default ./flightlog.db there).
    source = fresh_url
    if fresh_url.dialect == "sqlite":
        code, _, err = cli("demo")
        source = DatabaseUrl.parse(f"sqlite:///{dirs['elsewhere'] / 'flightlog.db'}")
        shown = "sqlite:///../elsewhere/flightlog.db"
    else:
        code, _, err = cli("demo", "-d", url_of(fresh_url))
        shown = url_of(fresh_url)
    assert code == 0, err
    blobs = _file_blobs(source, test_settings)
    assert blobs, "the demo writes at least one artifact large enough to be a file"
    source_dir = _documented_blob_dir(source, dirs)
    for sha, path in blobs:
        assert (source_dir / path).is_file(), sha

    # Exported from another directory (the reported crash), imported from a third.
    monkeypatch.chdir(dirs["other"])
    code, _, err = cli("export", "out.jsonl", "-d", shown)
    assert code == 0, one_sentence(err)
    exported = [json.loads(line) for line in (dirs["other"] / "out.jsonl").read_text().splitlines()]
    carried = {
        d["row"]["sha256"]
        for d in exported
        if d.get("table") == "artifact_blobs" and "file_content" in d["row"]
    }
    assert carried == {sha for sha, _ in blobs}
    monkeypatch.chdir(dirs["third"])
    code, _, err = cli("import", "../other/out.jsonl", "-d", url_of(target_url))
    assert code == 0, one_sentence(err)
    target_dir = _documented_blob_dir(target_url, dirs)
    assert target_dir != source_dir
    for sha, path in blobs:
        assert (target_dir / path).read_bytes() == (source_dir / path).read_bytes(), sha

    # The target's Store, opened from yet another directory, reads them back verified.
    monkeypatch.chdir(dirs["xdg"])
    engine = create_sync_engine(test_settings, url=target_url)
    try:
        with engine.connect() as connection:
            owned = connection.execute(
                select(Artifact.id, Artifact.sha256, Task.customer_id)
                .join(Task, Task.id == Artifact.task_id)
                .where(Artifact.sha256.in_([sha for sha, _ in blobs]))
            ).all()
    finally:
        engine.dispose()
    assert owned

    async def read_back() -> None:
        for artifact_id, sha, customer_id in owned:
            async with open_store(
                url_of(target_url), settings=test_settings, customer_id=customer_id
            ) as store:
                assert store.blob_policy.blob_dir == target_dir
                content = await store.artifacts.read(artifact_id)
            assert content == (source_dir / dict(blobs)[sha]).read_bytes()

    asyncio.run(read_back())


def test_store_written_blobs_are_found_from_another_directory(
    fresh_url: DatabaseUrl,
    target_url: DatabaseUrl,
    dirs: dict[str, Path],
    test_settings: Settings,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = url_of(fresh_url)
    if fresh_url.dialect == "sqlite":  # a relative URL, as a user types it in `elsewhere`
        url = "sqlite:///./team.db"
        fresh_url = DatabaseUrl.parse(f"sqlite:///{dirs['elsewhere'] / 'team.db'}")
    expected = _documented_blob_dir(fresh_url, dirs)
    sha = hashlib.sha256(BIG).hexdigest()

    async def write() -> tuple[uuid.UUID, uuid.UUID, Path]:
        async with open_store(url, settings=test_settings) as store:
            task = await store.tasks.create(title="Train")
            artifact = await store.artifacts.put(task.id, "model.bin", BIG)
            return store.customer_id, artifact.id, store.blob_policy.blob_dir

    customer_id, artifact_id, used = asyncio.run(write())
    assert used == expected
    assert (expected / sha[:2] / sha).read_bytes() == BIG

    monkeypatch.chdir(dirs["other"])

    async def read() -> bytes:
        async with open_store(
            url_of(fresh_url), settings=test_settings, customer_id=customer_id
        ) as store:
            # The HTTP server builds its Stores the same way.
            served = ApiContext(store.engine, test_settings).store_for(customer_id)
            assert served.blob_policy.blob_dir == expected
            return await store.artifacts.read(artifact_id)

    assert asyncio.run(read()) == BIG
    code, _, err = cli("export", "out.jsonl", "-d", url_of(fresh_url))
    assert code == 0, one_sentence(err)
    monkeypatch.chdir(dirs["third"])
    code, _, err = cli("import", "../other/out.jsonl", "-d", url_of(target_url))
    assert code == 0, one_sentence(err)
    assert (_documented_blob_dir(target_url, dirs) / sha[:2] / sha).read_bytes() == BIG

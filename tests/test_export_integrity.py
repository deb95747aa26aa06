"""An export proves it is whole (a trailer with a record count and a checksum), an import
refuses a file that does not, and an export never leaves a partial file behind."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import os
import stat
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session as OrmSession

from cli_runner import Cli, make_cli, one_sentence, url_of
from flightlog import Conflict, EventType, ValidationError
from flightlog.db.engine import create_sync_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.models import ArtifactBlob, Base, Customer, Event, Task
from flightlog.ops.export import export_to_file
from flightlog.ops.export_scope import NEVER_EXPORTED, Scope
from flightlog.ops.importer import import_lines
from flightlog.settings import Settings
from test_export_import import _export, _populate


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Cli:
    monkeypatch.setenv("FLIGHTLOG_BLOB_DIR", str(tmp_path / "blobs"))
    return make_cli(monkeypatch, capsys, tmp_path)


@pytest.fixture
def settings(test_settings: Settings, tmp_path: Path) -> Settings:
    return test_settings.model_copy(update={"blob_dir": tmp_path / "blobs"})


@pytest.fixture
def good_export(tmp_path: Path, settings: Settings, cli: Cli) -> Path:
    """A whole export of a small but complete history (big blobs included), made by the CLI."""
    source = DatabaseUrl.parse(f"sqlite:///{tmp_path / 'source.db'}")
    asyncio.run(_populate(source, settings))
    code, _, err = cli("export", "good.jsonl", "-d", url_of(source))
    assert code == 0, err
    return tmp_path / "good.jsonl"


def _counts(url: DatabaseUrl, settings: Settings) -> dict[str, int]:
    engine = create_sync_engine(settings, url=url)
    try:
        with engine.connect() as connection:
            return {
                table.name: connection.scalar(select(func.count()).select_from(table)) or 0
                for table in Base.metadata.sorted_tables
            }
    finally:
        engine.dispose()


def _nothing_in(url: DatabaseUrl, settings: Settings) -> None:
    assert {name: n for name, n in _counts(url, settings).items() if n} == {}


def test_an_export_ends_with_a_trailer_counting_and_hashing_its_rows(
    good_export: Path, cli: Cli, tmp_path: Path
) -> None:
    lines = good_export.read_bytes().splitlines(keepends=True)
    header, rows, trailer = json.loads(lines[0]), lines[1:-1], json.loads(lines[-1])
    assert header["version"] == 2
    assert trailer == {
        "trailer": {
            "records": len(rows),
            "sha256": hashlib.sha256(b"".join(rows)).hexdigest(),
        }
    }
    assert all(json.loads(row)["table"] for row in rows)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".good.jsonl")]  # no temp left

    # To standard output: the same rows and the same trailer (the header has its own time).
    code, out, err = cli("export", "-", "-d", f"sqlite:///{tmp_path / 'source.db'}")
    assert code == 0, err
    streamed = out.encode("utf-8").splitlines(keepends=True)
    assert streamed[1:] == lines[1:]
    (tmp_path / "streamed.jsonl").write_bytes(out.encode("utf-8"))
    target = f"sqlite:///{tmp_path / 'from-stdout.db'}"
    code, _, err = cli("import", "streamed.jsonl", "-d", target)
    assert code == 0, err
    assert f"Imported {len(rows)} rows" in one_sentence(err)


def _damaged(good: bytes) -> dict[str, tuple[bytes, str]]:
    """Ways a file goes wrong, each with what the refusal says."""
    lines = good.splitlines(keepends=True)
    half = len(lines) // 2
    epic = next(i for i, line in enumerate(lines) if b'"title":"Epic"' in line)
    metric = next(i for i, line in enumerate(lines) if b'"table":"metric_points"' in line)
    return {
        "first half (cut at a line end)": (b"".join(lines[:half]), "without its trailer"),
        "second half": (b"".join(lines[half:]), "not a Flightlog export"),
        "a changed byte in a row": (
            b"".join([*lines[:epic], lines[epic].replace(b"Epic", b"Epid"), *lines[epic + 1 :]]),
            "do not match the checksum",
        ),
        "a dropped line": (
            b"".join([*lines[:metric], *lines[metric + 1 :]]),
            f"holds {len(lines) - 3} records but its trailer says {len(lines) - 2}",
        ),
        "a line appended after the trailer": (
            good + lines[metric],
            f"line {len(lines) + 1}: more lines follow the trailer",
        ),
        "a blank line inside": (
            b"".join([*lines[:half], b"\n", *lines[half:]]),
            "records but its trailer says",
        ),
        "a damaged trailer": (
            b"".join([*lines[:-1], b'{"trailer":{"records":"many"}}\n']),
            "the trailer is damaged",
        ),
        "binary (gzip-compressed)": (gzip.compress(good), "not UTF-8 text"),
        "binary (raw bytes)": (bytes(range(255, -1, -1)) * 8, "not UTF-8 text"),
        "version 1 (no trailer)": (
            b"".join([lines[0].replace(b'"version":2', b'"version":1'), *lines[1:-1]]),
            "--allow-unverified",
        ),
    }


def test_import_refuses_a_damaged_file_and_writes_nothing(
    fresh_head_url: DatabaseUrl, good_export: Path, settings: Settings, cli: Cli, tmp_path: Path
) -> None:
    for damage, (content, says) in _damaged(good_export.read_bytes()).items():
        path = tmp_path / "damaged.jsonl"
        path.write_bytes(content)
        code, _, err = cli("import", str(path), "-d", url_of(fresh_head_url))
        assert code == 1, damage
        message = one_sentence(err)
        assert message.startswith("Error:"), (damage, message)
        assert says in message, (damage, message)
        _nothing_in(fresh_head_url, settings)
    # The database was left usable: the whole file goes in.
    code, _, err = cli("import", str(good_export), "-d", url_of(fresh_head_url))
    assert code == 0, err
    assert _counts(fresh_head_url, settings)["artifact_blobs"] == 2


@pytest.mark.sqlite_only
def test_a_refused_import_creates_no_database(
    dialect: str, good_export: Path, cli: Cli, tmp_path: Path
) -> None:
    truncated = good_export.read_bytes().splitlines(keepends=True)[:-1]
    (tmp_path / "truncated.jsonl").write_bytes(b"".join(truncated))
    code, _, err = cli("import", "truncated.jsonl", "-d", f"sqlite:///{tmp_path / 'new' / 'x.db'}")
    assert code == 1
    assert "truncated" in one_sentence(err)
    assert not (tmp_path / "new").exists()


def test_the_trailer_is_checked_inside_the_import_transaction(
    fresh_head_url: DatabaseUrl, good_export: Path, settings: Settings
) -> None:
    """Without the command's first pass over the file, the import itself refuses (rows already
    inserted are rolled back with the transaction)."""
    damaged = _damaged(good_export.read_bytes())
    engine = create_sync_engine(settings, url=fresh_head_url)
    try:
        for damage in ("first half (cut at a line end)", "a changed byte in a row"):
            content, says = damaged[damage]
            with pytest.raises(ValidationError, match=says), engine.begin() as connection:
                import_lines(
                    connection,
                    content.splitlines(keepends=True),
                    blob_dir=settings.blob_dir,
                )
            _nothing_in(fresh_head_url, settings)
    finally:
        engine.dispose()


def test_a_version_1_file_imports_only_when_allowed(
    fresh_head_url: DatabaseUrl, good_export: Path, settings: Settings, cli: Cli, tmp_path: Path
) -> None:
    content, _ = _damaged(good_export.read_bytes())["version 1 (no trailer)"]
    (tmp_path / "v1.jsonl").write_bytes(content)
    code, _, err = cli("import", "v1.jsonl", "-d", url_of(fresh_head_url))
    assert code == 1
    assert "version 1" in one_sentence(err)
    _nothing_in(fresh_head_url, settings)
    code, _, err = cli("import", "v1.jsonl", "--allow-unverified", "-d", url_of(fresh_head_url))
    assert code == 0, err
    assert _counts(fresh_head_url, settings)["tasks"] == 3


def _listing(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}


def test_an_export_that_fails_part_way_leaves_no_file(
    fresh_url: DatabaseUrl, settings: Settings, cli: Cli, tmp_path: Path
) -> None:
    """A blob file gone from the blob directory stops the export at its row, after others
    were written: neither the output nor a temporary file is left, and a file that was
    already there is untouched."""
    asyncio.run(_populate(fresh_url, settings))
    engine = create_sync_engine(settings, url=fresh_url)
    try:
        with engine.connect() as connection:
            path = connection.scalar(
                select(ArtifactBlob.storage_path).where(ArtifactBlob.storage_path.is_not(None))
            )
    finally:
        engine.dispose()
    assert path is not None
    assert settings.blob_dir is not None
    (settings.blob_dir / path).unlink()
    out = tmp_path / "exports"
    out.mkdir()
    (out / "previous.jsonl").write_bytes(b"an earlier export\n")
    before = _listing(out)
    for name in ("new.jsonl", "previous.jsonl"):
        code, _, err = cli("export", str(out / name), "-d", url_of(fresh_url))
        assert code == 1
        assert "is missing from" in one_sentence(err)
        assert _listing(out) == before


def test_export_into_a_missing_directory_is_one_sentence(
    db_url: DatabaseUrl, cli: Cli, tmp_path: Path
) -> None:
    code, _, err = cli("export", str(tmp_path / "no" / "out.jsonl"), "-d", url_of(db_url))
    assert code == 1
    assert "Cannot write in" in one_sentence(err)
    assert not (tmp_path / "no").exists()


def test_an_export_is_one_snapshot_and_does_not_hold_back_writers(
    fresh_url: DatabaseUrl, settings: Settings, cli: Cli, tmp_path: Path
) -> None:
    """Issue 10 review: while an export streams, another connection commits after every table
    (a new customer with a task and an event, and a change to a task not yet exported). The
    writes go through at once (on SQLite the export holds no write lock; the writer's busy
    timeout is short so a lock fails fast instead of waiting it out), and the export is the
    database as it was when it began: row for row the export made before any write, so its
    trailer certifies a whole and the file imports cleanly into a new database."""
    asyncio.run(_populate(fresh_url, settings))
    before = _export(fresh_url, settings)
    writer_settings = settings.model_copy(update={"sqlite_busy_timeout_ms": 2000})
    writer = create_sync_engine(writer_settings, url=fresh_url)
    written: list[str] = []

    def write_during_export(table: str, _rows: int) -> None:
        with OrmSession(writer) as session, session.begin():
            customer = Customer(name=f"Late {table}", email=f"{uuid.uuid4().hex}@late.test")
            session.add(customer)
            session.flush()
            task = Task(customer_id=customer.id, title=f"Late task after {table}")
            session.add(task)
            session.flush()
            session.add(Event(customer_id=customer.id, task_id=task.id, event_type=EventType.LOG))
            epic = session.scalars(select(Task).where(Task.title == "Epic")).one_or_none()
            if epic is not None:
                epic.title = "Epic, renamed during the export"
        written.append(table)

    engine = create_sync_engine(settings, url=fresh_url)
    path = tmp_path / "during.jsonl"
    try:
        with engine.connect() as connection:  # as `flightlog export` does
            rows = export_to_file(
                connection,
                Scope("all"),
                path,
                schema_revision="0003",
                blob_dir=settings.blob_dir,
                progress=write_during_export,
            )
    finally:
        engine.dispose()
        writer.dispose()
    tables = [t.name for t in Base.metadata.sorted_tables if t.name not in NEVER_EXPORTED]
    assert written == tables  # a commit after every exported table, none blocked
    counts = _counts(fresh_url, settings)
    assert counts["customers"] == 1 + len(tables)  # the writes are in the database ...
    lines = path.read_text(encoding="utf-8").splitlines()
    assert rows == len(before) - 2
    assert lines[1:] == before[1:]  # ... and in no table of the export, nor in its trailer
    assert "renamed during the export" not in path.read_text(encoding="utf-8")

    target = f"sqlite:///{tmp_path / 'restored.db'}"
    code, _, err = cli("import", str(path), "-d", target)
    assert code == 0, err
    assert f"Imported {rows} rows" in one_sentence(err)


def _tree(directory: Path) -> dict[str, tuple[bytes, int]] | None:
    """Everything under a directory, hidden entries included: content and modification time."""
    if not directory.exists():
        return None
    return {
        str(path.relative_to(directory)): (
            path.read_bytes() if path.is_file() else b"<directory>",
            path.stat().st_mtime_ns,
        )
        for path in sorted(directory.rglob("*"))
    }


def test_a_failed_import_leaves_the_blob_directory_as_it_was(
    fresh_url: DatabaseUrl,
    settings: Settings,
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 10 review: a database's own export imported into it again clashes ("Nothing was
    imported") after its blob rows were read. Whatever the blob directory (the database's own,
    a copy's with other files in it, or one that does not exist yet), the failed import leaves
    it exactly as it was: no file written, renamed, touched or left staged. The same file into
    a new database then puts every blob in place and leaves nothing staged."""
    asyncio.run(_populate(fresh_url, settings))
    code, _, err = cli("export", "own.jsonl", "-d", url_of(fresh_url))
    assert code == 0, err
    assert settings.blob_dir is not None
    own = settings.blob_dir
    copy = tmp_path / "copy-blobs"
    copy.mkdir()
    (copy / "README").write_bytes(b"someone else's file\n")
    absent = tmp_path / "new" / "blobs"
    for blob_dir in (copy, absent, own):
        before = _tree(blob_dir)
        monkeypatch.setenv("FLIGHTLOG_BLOB_DIR", str(blob_dir))
        code, _, err = cli("import", "own.jsonl", "-d", url_of(fresh_url))
        assert code == 1, blob_dir
        assert "Nothing was imported" in one_sentence(err)
        assert _tree(blob_dir) == before, blob_dir

        # The Python API, without a staging of its own: the same.
        engine = create_sync_engine(settings, url=fresh_url)
        try:
            with (
                pytest.raises(Conflict),
                engine.begin() as connection,
                (tmp_path / "own.jsonl").open("rb") as lines,
            ):
                import_lines(connection, lines, blob_dir=blob_dir)
        finally:
            engine.dispose()
        assert _tree(blob_dir) == before, blob_dir
    assert not (tmp_path / "new").exists()

    files = {path for path, _ in (_tree(own) or {}).items() if (own / path).is_file()}
    assert len(files) == 1  # the one artifact large enough to be a file
    monkeypatch.setenv("FLIGHTLOG_BLOB_DIR", str(absent))
    code, _, err = cli("import", "own.jsonl", "-d", f"sqlite:///{tmp_path / 'restored.db'}")
    assert code == 0, err
    after = _tree(absent) or {}
    assert {path for path in after if (absent / path).is_file()} == files
    assert {path: content for path, (content, _) in after.items() if path in files} == {
        path: (own / path).read_bytes() for path in files
    }


def test_the_export_file_is_readable_by_its_owner_only(
    db_url: DatabaseUrl, cli: Cli, tmp_path: Path
) -> None:
    """Issue 10 review: an export holds every row, API key hashes included, so the file is
    created 0600 whatever the umask, and one written over an older, wider file is 0600 too."""
    previous = os.umask(0)
    try:
        code, _, err = cli("export", "new.jsonl", "-d", url_of(db_url))
        assert code == 0, err
        older = tmp_path / "older.jsonl"
        older.write_bytes(b"an earlier export\n")
        older.chmod(0o644)
        code, _, err = cli("export", "older.jsonl", "-d", url_of(db_url))
        assert code == 0, err
    finally:
        os.umask(previous)
    for name in ("new.jsonl", "older.jsonl"):
        mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
        assert mode == 0o600, (name, oct(mode))
        assert (tmp_path / name).stat().st_uid == os.getuid()

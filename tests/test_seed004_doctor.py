"""``flightlog doctor``: seed 004's ``migrate.py status`` and health check as one command.

Each check is a tick or one sentence on what to do; the exit code is 1 when
anything is wrong. Both dialects: a healthy database, one behind head, a
dropped index, a blob directory that cannot be written, and a database that
cannot be reached (a PostgreSQL server that is not there, a SQLite file that
is not there), with the URL's password hidden throughout.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import text

from cli_runner import Cli, make_cli, one_sentence, url_of
from flightlog.db.engine import create_sync_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.migrations.runner import Migrator
from flightlog.settings import Settings
from pg_cluster import free_port


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Cli:
    monkeypatch.setenv("FLIGHTLOG_BLOB_DIR", str(tmp_path / "blobs"))
    return make_cli(monkeypatch, capsys, tmp_path)


def _line(out: str, check: str) -> str:
    """The report's line for ``check``, joined across the table's wrapping."""
    text_ = " ".join(out.split())
    start = text_.index(f"│ {check} ")
    return text_[start - 4 : start + 400]


def test_seed004_doctor_healthy_behind_head_and_a_dropped_index(
    dialect: str, fresh_url: DatabaseUrl, test_settings: Settings, cli: Cli
) -> None:
    url = url_of(fresh_url)
    migrator = Migrator(test_settings, fresh_url)
    previous = next(rev.down_revision for rev in migrator.history() if rev.is_head)
    assert previous is not None
    migrator.upgrade(previous)
    code, out, err = cli("doctor", "-d", url)
    assert code == 1, err
    assert "✗ │ schema revision" in _line(out, "schema revision")
    assert f"is at {previous} but this Flightlog needs {migrator.head()}" in " ".join(out.split())
    assert "run 'flightlog db upgrade'" in " ".join(out.split())

    migrator.upgrade("head")
    code, out, err = cli("doctor", "-d", url)
    assert code == 0, out + err
    for check in ("connection", "schema revision", "tables, views, indexes", "blob directory"):
        assert "✓" in _line(out, check), check
    assert "Everything looks right" in out
    assert "statement_timeout_ms" in out
    assert "FLIGHTLOG_POOL_SIZE" in out

    engine = create_sync_engine(test_settings, url=fresh_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP INDEX ix_tasks_customer_title"))
    finally:
        engine.dispose()
    code, out, err = cli("doctor", "-d", url)
    assert code == 1
    line = _line(out, "tables, views, indexes")
    assert "✗" in line
    assert "ix_tasks_customer_title" in " ".join(out.split())
    assert "Traceback" not in out + err


def test_seed004_doctor_a_blob_directory_that_cannot_be_written(
    dialect: str,
    db_url: DatabaseUrl,
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("not a directory")
    monkeypatch.setenv("FLIGHTLOG_BLOB_DIR", str(in_the_way))
    code, out, _err = cli("doctor", "-d", url_of(db_url))
    assert code == 1
    assert "is a file, not a directory" in " ".join(out.split())
    monkeypatch.setenv("FLIGHTLOG_BLOB_DIR", str(in_the_way / "blobs"))
    code, out, _err = cli("doctor", "-d", url_of(db_url))
    assert code == 1
    assert "cannot be created" in " ".join(out.split())
    if os.geteuid() != 0:  # root writes anywhere: the permission case needs another user
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        monkeypatch.setenv("FLIGHTLOG_BLOB_DIR", str(locked))
        code, out, _err = cli("doctor", "-d", url_of(db_url))
        assert code == 1
        assert "Cannot write to" in " ".join(out.split())


def test_seed004_doctor_an_unreachable_database_is_one_sentence_password_hidden(
    dialect: str, cli: Cli, tmp_path: Path
) -> None:
    if dialect == "postgresql":
        url = f"postgresql://flightlog:s3cret-pw@127.0.0.1:{free_port()}/flightlog"
        expected = "Cannot reach the database at postgresql://flightlog:***@127.0.0.1"
    else:
        url = f"sqlite:///{tmp_path / 'missing.db'}"
        expected = "There is no database file at"
    code, out, err = cli("doctor", "-d", url)
    assert code == 1
    assert "s3cret-pw" not in out + err
    line = one_sentence(_line(out, "connection"))
    assert "✗" in line
    assert expected in line
    assert "Traceback" not in out + err
    assert not (tmp_path / "missing.db").exists()  # nothing created

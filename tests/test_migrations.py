"""The one migration chain, on both dialects: up, down, every step, no drift, nothing left."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from flightlog import MigrationError, open_store
from flightlog.db.engine import create_sync_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.migrations.runner import Migrator
from flightlog.models import Base
from flightlog.services.index_usage import CATEGORIES
from flightlog.settings import Settings
from schema_inspect import shape

REPO_ROOT = Path(__file__).resolve().parents[1]
VIEWS = {"active_tasks", "task_execution_summary", "pr_validation_status", "index_usage_stats"}


@pytest.fixture
def migrator(fresh_url: DatabaseUrl, test_settings: Settings) -> Migrator:
    return Migrator(test_settings, fresh_url)


def _engine(url: DatabaseUrl, settings: Settings) -> Engine:
    return create_sync_engine(settings, url=url)


def _assert_empty(url: DatabaseUrl, settings: Settings) -> None:
    engine = _engine(url, settings)
    try:
        found = shape(engine)
    finally:
        engine.dispose()
    assert found.tables == set()
    assert found.views == set()
    assert found.triggers == set()
    assert found.indexes == set()


def test_base_head_base_head(migrator: Migrator, test_settings: Settings) -> None:
    migrator.upgrade("head")
    assert migrator.current() == migrator.head()
    assert migrator.check() == []
    migrator.downgrade("base")
    assert migrator.current() is None
    _assert_empty(migrator.url, test_settings)
    migrator.upgrade("head")
    assert migrator.check() == []


def test_every_step_up_and_down(migrator: Migrator, test_settings: Settings) -> None:
    revisions = [rev.revision for rev in reversed(migrator.history())]
    assert revisions[0] == "0001"
    assert len(revisions) >= 3
    previous: str | None = None
    for revision in revisions:
        migrator.upgrade(revision)
        assert migrator.current() == revision
        migrator.downgrade(previous or "base")
        assert migrator.current() == previous
        migrator.upgrade(revision)
        previous = revision
    assert migrator.check() == []
    for revision in reversed(revisions[:-1]):
        migrator.downgrade(revision)
        assert migrator.current() == revision
    migrator.downgrade("base")
    _assert_empty(migrator.url, test_settings)


def test_head_has_every_model_table_and_the_views(
    migrator: Migrator, test_settings: Settings
) -> None:
    migrator.upgrade("head")
    engine = _engine(migrator.url, test_settings)
    try:
        found = shape(engine)
        with engine.connect() as connection:
            for view in VIEWS - {"index_usage_stats"}:
                assert connection.execute(text(f"SELECT count(*) FROM {view}")).scalar() == 0
            # One row per index of the schema, with seed 004's usage categories.
            rows = connection.execute(
                text("SELECT indexname, usage_category FROM index_usage_stats")
            ).all()
            assert {name for name, _ in rows} >= {index for _, index in found.indexes}
            expected = {"NOT TRACKED"} if migrator.url.dialect == "sqlite" else set(CATEGORIES)
            assert {category for _, category in rows} <= expected
    finally:
        engine.dispose()
    model_tables = set(Base.metadata.tables)
    assert model_tables <= found.tables
    assert found.views == VIEWS


def test_check_reports_drift_when_the_schema_differs(
    migrator: Migrator, test_settings: Settings
) -> None:
    migrator.upgrade("head")
    engine = _engine(migrator.url, test_settings)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP INDEX ix_events_task_created"))
            connection.execute(text("ALTER TABLE tasks ADD COLUMN stray INTEGER"))
    finally:
        engine.dispose()
    drift = migrator.check()
    details = " ".join(f"{d.operation} {d.detail}" for d in drift)
    assert "ix_events_task_created" in details
    assert "stray" in details


def test_check_reports_a_database_behind_head(migrator: Migrator) -> None:
    migrator.upgrade("0001")
    drift = migrator.check()
    assert [d.operation for d in drift] == ["revision"]


def _run(args: list[str], url: DatabaseUrl, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLIGHTLOG_DATABASE_URL": url.url.render_as_string(hide_password=False)}
    env.pop("DATABASE_URL", None)
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=300
    )


def test_cli_upgrade_check_downgrade(
    fresh_url: DatabaseUrl, test_settings: Settings, tmp_path: Path
) -> None:
    flightlog = [sys.executable, "-m", "flightlog"]
    url = fresh_url.url.render_as_string(hide_password=False)
    up = _run([*flightlog, "db", "upgrade", "--database-url", url], fresh_url, tmp_path)
    assert up.returncode == 0, up.stderr
    check = _run([*flightlog, "db", "check", "--database-url", url], fresh_url, tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No drift" in check.stdout
    current = _run([*flightlog, "db", "current", "--database-url", url], fresh_url, tmp_path)
    assert "(head)" in current.stdout
    history = _run([*flightlog, "db", "history"], fresh_url, tmp_path)
    assert "0001" in history.stdout
    down = _run([*flightlog, "db", "downgrade", "base", "--yes", "-d", url], fresh_url, tmp_path)
    assert down.returncode == 0, down.stderr
    _assert_empty(fresh_url, test_settings)
    behind = _run([*flightlog, "db", "check", "--database-url", url], fresh_url, tmp_path)
    assert behind.returncode == 1
    assert "head is" in behind.stdout


def test_plain_alembic_at_repo_root_uses_flightlog_database_url(
    fresh_url: DatabaseUrl, test_settings: Settings
) -> None:
    alembic = [sys.executable, "-m", "alembic"]
    up = _run([*alembic, "upgrade", "head"], fresh_url, REPO_ROOT)
    assert up.returncode == 0, up.stderr
    assert Migrator(test_settings, fresh_url).current() is not None
    check = _run([*alembic, "check"], fresh_url, REPO_ROOT)
    assert check.returncode == 0, check.stdout + check.stderr
    down = _run([*alembic, "downgrade", "base"], fresh_url, REPO_ROOT)
    assert down.returncode == 0, down.stderr


def test_cli_error_is_a_sentence_not_a_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flightlog", "db", "current", "-d", "mysql://x@localhost/db"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "Flightlog runs on SQLite and PostgreSQL" in result.stderr


async def test_a_database_migrated_by_a_newer_flightlog_is_refused_untouched(
    fresh_url: DatabaseUrl, test_settings: Settings
) -> None:
    """An unknown revision is a newer Flightlog's: say so, and never try to migrate it."""
    migrator = Migrator(test_settings, fresh_url)
    migrator.upgrade("head")
    engine = create_sync_engine(test_settings, url=fresh_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        engine.dispose()
    url = fresh_url.url.render_as_string(hide_password=False)
    for upgrade in (True, False):
        with pytest.raises(MigrationError, match="a newer Flightlog migrated it"):
            async with open_store(url, settings=test_settings, upgrade=upgrade):
                pass
    assert migrator.current() == "9999"

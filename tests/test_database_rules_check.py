"""``flightlog db check`` sees migration 0009's objects, and leaves a team's own alone.

A missing or disabled trigger and a missing view are drift (seed 003's
updated_at triggers, seed 004's cycle triggers and index_usage_stats); a
team's tables, views and triggers in the same database are not, unless the
user asks for them by name (``--include``), and ``--exclude`` leaves named
objects out. Also seed 004's ``index_usage_stats`` read by the service and by
``flightlog stats --indexes``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from cli_runner import make_cli
from flightlog.db.engine import create_sync_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.migrations.filters import NamePatterns
from flightlog.migrations.runner import Migrator
from flightlog.services.index_usage import CATEGORIES, NOT_TRACKED, index_usage
from flightlog.settings import Settings


def _exec(url: DatabaseUrl, settings: Settings, *statements: str) -> None:
    engine = create_sync_engine(settings, url=url)
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.execute(text(statement))
    finally:
        engine.dispose()


def _details(migrator: Migrator, patterns: NamePatterns | None = None) -> str:
    return " | ".join(f"{d.operation} {d.detail}" for d in migrator.check(patterns))


def test_seed003_seed004_db_check_sees_triggers_views_and_ignores_a_teams_tables(
    fresh_url: DatabaseUrl,
    test_settings: Settings,
    dialect: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    migrator = Migrator(test_settings, fresh_url)
    migrator.upgrade("head")
    assert migrator.check() == []

    # A team's own table, view and index on it share the database: not drift.
    _exec(
        fresh_url,
        test_settings,
        "CREATE TABLE team_notes (id INTEGER PRIMARY KEY, body TEXT)",
        "CREATE INDEX ix_team_notes_body ON team_notes (body)",
        "CREATE VIEW team_summary AS SELECT count(*) AS n FROM team_notes",
    )
    assert migrator.check() == []
    # ... unless asked for by name.
    assert "team_notes" in _details(migrator, NamePatterns(include=("team_*",)))

    # A team's index on a Flightlog table is drift, which --exclude can leave out.
    _exec(fresh_url, test_settings, "CREATE INDEX team_ix_tasks_title ON tasks (title)")
    assert "team_ix_tasks_title" in _details(migrator)
    assert migrator.check(NamePatterns(exclude=("team_*",))) == []

    # A missing updated_at trigger, cycle trigger or view is drift.
    drop = "DROP TRIGGER {} ON {}" if dialect == "postgresql" else "DROP TRIGGER {}"
    _exec(
        fresh_url,
        test_settings,
        drop.format("trg_tasks_updated_at", "tasks"),
        drop.format("trg_task_dependencies_no_cycle_insert", "task_dependencies"),
        "DROP VIEW index_usage_stats",
    )
    found = _details(migrator, NamePatterns(exclude=("team_*",)))
    assert "add_trigger tasks.trg_tasks_updated_at" in found
    assert "add_trigger task_dependencies.trg_task_dependencies_no_cycle_insert" in found
    assert "add_view index_usage_stats" in found

    # The CLI says the same, exits 1, and takes the patterns as options.
    cli = make_cli(monkeypatch, capsys, tmp_path)
    url = fresh_url.url.render_as_string(hide_password=False)
    code, out, _ = cli("db", "check", "-d", url, "--exclude", "team_*")
    assert code == 1
    assert "trg_tasks_updated_at" in out
    assert "team_ix_tasks_title" not in out

    migrator.downgrade("0008")
    migrator.upgrade("head")
    assert migrator.check(NamePatterns(exclude=("team_*",))) == []
    if dialect == "postgresql":
        _exec(fresh_url, test_settings, "ALTER TABLE tasks DISABLE TRIGGER trg_tasks_updated_at")
        assert "enable_trigger tasks.trg_tasks_updated_at" in _details(
            migrator, NamePatterns(exclude=("team_*",))
        )
    code, out, _ = cli("db", "check", "-d", url, "--exclude", "team_*", "--exclude", "trg_*")
    assert code == 0, out


def test_seed004_index_usage_lists_every_index_with_its_category(
    session: Session, dialect: str
) -> None:
    found = index_usage(session)
    names = {row.index for row in found}
    assert {"ix_tasks_pending", "ix_task_runs_queued", "ix_approvals_pending"} <= names
    if dialect == "sqlite":
        assert {row.category for row in found} == {NOT_TRACKED}
        assert all(row.scans is None for row in found)
        # dbstat is in the SQLite Python ships with: sizes are known.
        assert all(row.size_bytes is not None and row.size_bytes > 0 for row in found)
    else:
        assert {row.category for row in found} <= set(CATEGORIES)
        assert all(row.scans is not None and row.size_bytes for row in found)
        unused = session.execute(
            text("SELECT count(*) FROM index_usage_stats WHERE usage_category = 'UNUSED'")
        ).scalar_one()
        assert unused == sum(1 for row in found if row.category == "UNUSED")


def test_seed004_stats_indexes_on_the_command_line(
    db_url: DatabaseUrl,
    dialect: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli = make_cli(monkeypatch, capsys, tmp_path)
    url = db_url.url.render_as_string(hide_password=False)
    code, out, err = cli("stats", "--indexes", "--json", "-d", url)
    assert code == 0, err
    rows = json.loads(out)
    assert {"table", "index", "scans", "size_bytes", "category"} == set(rows[0])
    assert any(row["index"] == "ix_tasks_pending" for row in rows)
    code, out, err = cli("stats", "--indexes", "-d", url)
    assert code == 0, err
    assert "ix_tasks_pending" in out
    assert ("NOT TRACKED" in out) == (dialect == "sqlite")

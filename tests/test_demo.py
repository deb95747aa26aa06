"""``flightlog demo``: every aggregate written, a readable report, and no duplicates on rerun."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from flightlog.cli.demo import next_steps
from flightlog.cli.local_sign_in import invoked_as
from flightlog.db.engine import create_sync_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.ops.demo import LAPSED_AGENT
from flightlog.settings import Settings


def _run(
    args: list[str], cwd: Path, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "120", "FLIGHTLOG_BLOB_DIR": str(cwd / "blobs")}
    env.update(extra_env or {})
    env.pop("FLIGHTLOG_DATABASE_URL", None)
    env.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "flightlog", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def test_demo_fills_every_aggregate_once(fresh_url: DatabaseUrl, tmp_path: Path) -> None:
    url = fresh_url.url.render_as_string(hide_password=False)
    first = _run(["demo", "-d", url], tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Demo written" in first.stdout
    for heading in (
        "What is stored",
        "Task runs",
        "Busiest agents",
        "Pending approvals",
        "Acme Robotics' tasks",
    ):
        assert heading in first.stdout
    assert "Traceback" not in first.stderr
    rows = {line.split("│")[1].strip(): line for line in first.stdout.splitlines() if "│" in line}
    # A task whose only run is still going has no success rate yet; a finished one has one.
    assert rows["Test the API"].rstrip(" │").endswith("-")
    assert rows["Design the API"].rstrip(" │").endswith("100%")
    counts = json.loads(_run(["stats", "--json", "-d", url], tmp_path).stdout)
    for entity, number in counts["counts"].items():
        assert number > 0, entity
    statuses = set(counts["runs_by_status"])
    assert {
        "COMPLETED",
        "FAILED",
        "TIMEOUT",
        "CANCELLED",
        "RUNNING",
        "WAITING_APPROVAL",
    } <= statuses
    assert all(n > 0 for n in counts["pending_approvals"].values())
    assert counts["counts"]["customers"] == 2

    second = _run(["demo", "-d", url], tmp_path)
    assert second.returncode == 0, second.stderr
    assert "already in this database" in second.stdout
    again = json.loads(_run(["stats", "--json", "-d", url], tmp_path).stdout)
    assert again["counts"] == counts["counts"]


def test_demo_defaults_to_a_sqlite_file_in_the_working_directory(tmp_path: Path) -> None:
    env_free = _run(["demo"], tmp_path)
    assert env_free.returncode == 0, env_free.stderr
    assert (tmp_path / "flightlog.db").exists()
    assert "sqlite:///./flightlog.db" in " ".join(env_free.stdout.split())


def _query(url: DatabaseUrl, settings: Settings) -> Callable[[str], list[Any]]:
    def rows(sql: str) -> list[Any]:
        engine = create_sync_engine(settings, url=url)
        try:
            with engine.connect() as connection:
                return list(connection.execute(text(sql)).all())
        finally:
            engine.dispose()

    return rows


def test_demo_data_reads_like_a_week_of_real_work(
    fresh_url: DatabaseUrl, test_settings: Settings, tmp_path: Path
) -> None:
    """Durations in seconds to minutes, runs over days, tasks older than their runs, one agent
    deliberately silent mid-step; and the next commands printed whole, however narrow."""
    url = fresh_url.url.render_as_string(hide_password=False)
    env_narrow = {"COLUMNS": "40"}
    written = _run(["demo", "-d", url], tmp_path, env_narrow)
    assert written.returncode == 0, written.stderr
    lines = written.stdout.splitlines()
    assert f"-m flightlog demo --serve -d {shlex.quote(url)}" in "\n".join(lines)
    assert any(line.endswith(f"-m flightlog demo --serve -d {shlex.quote(url)}") for line in lines)

    _rows = _query(fresh_url, test_settings)
    finished = _rows(
        "SELECT duration_seconds FROM task_runs WHERE completed_at IS NOT NULL",
    )
    assert len(finished) >= 12
    assert all(5 <= float(seconds) <= 3600 for (seconds,) in finished), finished
    steps = _rows("SELECT duration_seconds FROM agent_runs WHERE finished_at IS NOT NULL")
    assert all(5 <= float(seconds) <= 3600 for (seconds,) in steps), steps
    starts = [_naive(at) for (at,) in _rows("SELECT started_at FROM task_runs")]
    assert max(starts) - min(starts) >= timedelta(days=5)
    early = _rows(
        "SELECT t.title FROM task_runs r JOIN tasks t ON t.id = r.task_id "
        "WHERE r.started_at < t.created_at",
    )
    assert early == []
    # The lapsed reviewer's step is still open: her silence is the demo's crashed agent.
    open_steps = _rows(
        "SELECT agent_name, status FROM agent_runs WHERE finished_at IS NULL "
        "AND agent_name <> 'TeamLeader'",
    )
    assert open_steps == [(LAPSED_AGENT[1], "STARTED")]


def _naive(value: object) -> datetime:
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=None)


def test_printed_commands_are_spelled_as_the_person_ran_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / ".venv" / "bin" / "flightlog"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(script), "demo"])
    assert invoked_as() == ".venv/bin/flightlog"
    monkeypatch.setattr(sys, "argv", [".venv/bin/flightlog", "demo"])
    assert invoked_as() == ".venv/bin/flightlog"
    monkeypatch.setattr(sys, "argv", ["flightlog", "demo"])
    assert invoked_as() == "flightlog"
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    monkeypatch.setattr(sys, "argv", [str(script), "demo"])
    monkeypatch.setenv("PATH", "/nonexistent")
    assert invoked_as() == str(script)
    assert "demo --serve" in next_steps(None)[2]
    assert next_steps("sqlite:///a b.db")[2].endswith("demo --serve -d 'sqlite:///a b.db'")

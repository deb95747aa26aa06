"""``flightlog demo``: every aggregate written, a readable report, and no duplicates on rerun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from flightlog.db.urls import DatabaseUrl


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "120", "FLIGHTLOG_BLOB_DIR": str(cwd / "blobs")}
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

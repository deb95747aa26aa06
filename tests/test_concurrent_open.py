"""Many openers of one database at once: in one process and in many (issue 10, defect 1).

``open_store`` used to run Alembic's upgrade on every open. Alembic's proxies
are process-global, so concurrent upgrades in one process hung or raised
``KeyError('config')``, and processes racing on a fresh PostgreSQL database
failed creating ``alembic_version``. Each scenario runs in child processes
so that a hang is bounded by a timeout and the hung process can be killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from flightlog import open_store
from flightlog.db.urls import DatabaseUrl
from flightlog.migrations.runner import Migrator
from flightlog.settings import Settings
from waiting import wait_until

RACE_SCRIPT = Path(__file__).parent / "tools" / "open_race.py"
OPENERS = 32
#: Processes in the cross-process race, released together by one start file: plenty to
#: collide on a fresh database (the old failure needed two), few enough to leave the
#: shared PostgreSQL server connections for the tests running beside. They are forked
#: from one interpreter that imported Flightlog (tools/open_race.py), so twelve cost one
#: interpreter's imports.
RACERS = 12
#: Generous: a hang takes forever.
TIMEOUT_SECONDS = 240.0


def _full(url: DatabaseUrl) -> str:
    """The URL to connect with, password included (``redacted()`` is for showing)."""
    return url.url.render_as_string(hide_password=False)


def _outcome(stdout: str) -> dict[str, object]:
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    assert lines, f"the opener printed no result: {stdout!r}"
    result: dict[str, object] = json.loads(lines[-1])
    return result


def _gather_in_one_process(url: DatabaseUrl) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, str(RACE_SCRIPT), _full(url), "gather", str(OPENERS)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return _outcome(done.stdout)


def _one_per_process(url: DatabaseUrl, signal_dir: Path) -> list[dict[str, object]]:
    """RACERS processes, each opening once, released together by a start file."""
    start = signal_dir / "start"
    racing = subprocess.Popen(
        [sys.executable, str(RACE_SCRIPT), _full(url), "race", str(RACERS), str(start)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a group of its own: a hang is ended with every racer
    )
    try:
        wait_until(
            lambda: len(list(signal_dir.glob("start.ready.*"))) == RACERS,
            TIMEOUT_SECONDS,
            "every opener to be ready",
        )
        start.touch()
        stdout, stderr = racing.communicate(timeout=TIMEOUT_SECONDS)
        assert racing.returncode == 0, stderr
        lines = [line for line in stdout.splitlines() if line.startswith("{")]
        assert len(lines) == RACERS, stdout
        return [_outcome(line) for line in lines]
    finally:
        if racing.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(racing.pid, signal.SIGKILL)
            racing.wait()


def test_concurrent_opens_in_one_process_on_a_fresh_database(
    fresh_url: DatabaseUrl, test_settings: Settings
) -> None:
    result = _gather_in_one_process(fresh_url)
    assert result == {"opened": OPENERS, "errors": []}
    migrator = Migrator(test_settings, fresh_url)
    assert migrator.current() == migrator.head()


def test_concurrent_opens_in_one_process_at_head(
    fresh_head_url: DatabaseUrl, test_settings: Settings
) -> None:
    assert _gather_in_one_process(fresh_head_url) == {"opened": OPENERS, "errors": []}


@pytest.mark.slow
def test_processes_racing_to_open_a_fresh_database(
    fresh_url: DatabaseUrl, test_settings: Settings, tmp_path: Path
) -> None:
    signals = tmp_path / "signals"
    signals.mkdir()
    outcomes = _one_per_process(fresh_url, signals)
    errors = [error for outcome in outcomes for error in outcome["errors"]]  # type: ignore[attr-defined]
    assert errors == []
    assert sum(outcome["opened"] for outcome in outcomes) == RACERS  # type: ignore[misc]
    migrator = Migrator(test_settings, fresh_url)
    assert migrator.current() == migrator.head()
    assert migrator.check() == []


@pytest.mark.sqlite_only
async def test_schema_check_reads_beside_a_writer_holding_the_lock(
    dialect: str, fresh_url: DatabaseUrl, test_settings: Settings
) -> None:
    """``open_store(upgrade=False)`` must not queue for SQLite's write lock (defect 2).

    Another connection holds the write lock for the whole open, as a busy
    writer would; the revision check and the default-customer lookup only
    read, so they finish well inside a short busy timeout.
    """
    settings = test_settings.model_copy(update={"sqlite_busy_timeout_ms": 300})
    async with open_store(_full(fresh_url), settings=settings):
        pass  # creates the schema and the default customer
    database = fresh_url.url.database
    assert database is not None
    writer = sqlite3.connect(database, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE customers SET name = name")
        async with open_store(_full(fresh_url), settings=settings, upgrade=False) as store:
            assert (await store.tasks.list()).items == []
    finally:
        writer.execute("ROLLBACK")
        writer.close()

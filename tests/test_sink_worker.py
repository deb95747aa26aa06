"""``flightlog sink run``: exactly one copy of every committed row, whatever kills the worker.

Real processes throughout: a writer process with concurrent threads (ids commit out
of order on PostgreSQL; tasks are deleted as it goes), the worker as ``flightlog sink
run`` killed with SIGKILL at several moments and started again, and ``flightlog sink
verify`` comparing counts and checksums of every table with the database's (read
``FINAL`` on the sink). Both dialects as the source.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli_runner import url_of
from flightlog import open_store_sync
from flightlog.settings import Settings
from flightlog.sink.status import STATUS_FILE
from sink_support import (
    SMALL_BATCH,
    TOOLS,
    Sources,
    environment,
    flightlog,
    module_sources,
    start,
    verified,
)
from waiting import wait_until


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory, test_settings: Settings) -> Iterator[Sources]:
    yield from module_sources(tmp_path_factory, test_settings)


def _cycle(sink: Path) -> int:
    """The cycle the owner last finished (its status file), 0 before the first."""
    try:
        return int(json.loads((sink / STATUS_FILE).read_text())["cycle"])
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return 0


def _wait_cycles(sink: Path, worker: subprocess.Popen[str], cycle: int) -> None:
    wait_until(lambda: _cycle(sink) >= cycle or worker.poll() is not None, 120, f"cycle {cycle}")


def _killed(process: subprocess.Popen[str]) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


@pytest.mark.slow
def test_kill_9_at_any_moment_and_a_restart_leave_one_copy_of_every_row(
    dialect: str, sources: Sources, tmp_path: Path
) -> None:
    source = sources.fresh(dialect)
    sink = tmp_path / "sink"
    env = environment(source, f"chdb://{sink}", FLIGHTLOG_SINK_BATCH_ROWS=SMALL_BATCH)
    log = tmp_path / "worker.log"
    writer = subprocess.Popen(
        [sys.executable, str(TOOLS / "sink_writer.py"), url_of(source), "3", "25"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Killed while starting (schema and positions), then after 1, 3 and 6 more cycles:
    # at whatever step each cycle is in then (reading, inserting rows, saving positions).
    for more_cycles in (0, 1, 3, 6):
        worker = start(env, "sink", "run", log=log)
        if more_cycles:
            _wait_cycles(sink, worker, _cycle(sink) + more_cycles)
        assert worker.poll() is None, log.read_text()
        _killed(worker)
    _, err = writer.communicate(timeout=300)
    assert writer.returncode == 0, err
    caught_up = flightlog(env, "sink", "run", "--once", "--quiet")
    assert caught_up.returncode == 0, caught_up.stderr
    checks = verified(env)
    assert [c["table"] for c in checks] == ["events", "metric_points", "agent_runs", "task_runs"]
    for check in checks:
        assert check["matches"], check
    assert all(check["primary_rows"] > 0 for check in checks)


def test_a_second_owner_is_refused_and_status_reads_the_owners_progress(
    sources: Sources, tmp_path: Path
) -> None:
    """chdb's rule, whatever the source: the source here is SQLite."""
    source = sources.fresh("sqlite")
    sink = tmp_path / "sink"
    env = environment(source, f"chdb://{sink}")
    with open_store_sync(url_of(source), upgrade=False) as store:
        task = store.tasks.create(title="status")
        store.events.append_batch([{"event_type": "LOG", "task_id": task.id} for _ in range(30)])
    owner = start(env, "sink", "run", log=tmp_path / "owner.log")
    try:
        _wait_cycles(sink, owner, 1)
        second = flightlog(env, "sink", "run", "--once")
        assert second.returncode == 1
        assert f"owned by process {owner.pid}" in " ".join(second.stderr.split())
        assert "Traceback" not in second.stderr
        status = flightlog(env, "sink", "status", "--json")
        assert status.returncode == 0, status.stderr
        body = json.loads(status.stdout)
        assert body["owner_pid"] == owner.pid
        assert body["rows_behind"] == {"events": 0, "metric_points": 0}
        assert body["positions"]["events"] >= 30
    finally:
        _killed(owner)


def _copied_events(sink: Path) -> int:
    """How far the owner's status file says it has tailed the events (0 before it says)."""
    try:
        return int(json.loads((sink / STATUS_FILE).read_text())["positions"]["events"])
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return 0


@pytest.mark.postgres_only
def test_the_tailer_waits_out_a_database_restart_and_goes_on_copying(
    dialect: str, sources: Sources, tmp_path: Path
) -> None:
    """``flightlog sink run`` used to exit at a restart ("terminating connection due to
    administrator command"), leaving the sink behind until someone started it again."""
    source = sources.fresh(dialect)
    assert sources.cluster is not None
    sink, log = tmp_path / "sink", tmp_path / "worker.log"
    env = environment(source, f"chdb://{sink}")
    with open_store_sync(url_of(source), upgrade=False) as store:
        task = store.tasks.create(title="before the restart")
        store.events.append_batch([{"event_type": "LOG", "task_id": task.id} for _ in range(20)])
        before = max(event.id for event in store.events.list(task_id=task.id, limit=100).items)
    worker = start(env, "sink", "run", log=log)
    try:
        wait_until(lambda: _copied_events(sink) >= before, 120, "the rows before the restart")
        sources.cluster.stop()
        try:
            wait_until(
                lambda: "Waiting:" in log.read_text() or worker.poll() is not None,
                120,
                "the tailer to notice the database is gone",
            )
            assert worker.poll() is None, log.read_text()
        finally:
            sources.cluster.start()
        with open_store_sync(url_of(source), upgrade=False) as store:
            task = store.tasks.create(title="after the restart")
            store.events.append_batch([{"event_type": "LOG", "task_id": task.id}] * 20)
            after = max(event.id for event in store.events.list(task_id=task.id, limit=100).items)
        wait_until(
            lambda: _copied_events(sink) >= after or worker.poll() is not None,
            120,
            "the rows written after the restart",
        )
        assert worker.poll() is None, log.read_text()
        said = " ".join(log.read_text().split())
        assert "Traceback" not in said
        assert "trying again in 1 s" in said
        assert "answer again: copying" in said
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    assert worker.returncode == 0, log.read_text()
    assert all(check["matches"] for check in verified(env))


def test_status_counts_the_rows_written_while_the_sink_was_down_and_it_catches_up(
    dialect: str, sources: Sources, tmp_path: Path
) -> None:
    source = sources.fresh(dialect)
    env = environment(source, f"chdb://{tmp_path / 'sink'}")
    # Once with the URL on the command line instead of the environment: the same sink.
    given = environment(source, "")
    copied = flightlog(
        given, "sink", "run", "--once", "-q", "--sink-url", f"chdb://{tmp_path / 'sink'}"
    )
    assert copied.returncode == 0, copied.stderr
    # No worker runs now: writing, and reading, never involve the sink.
    with open_store_sync(url_of(source), upgrade=False) as store:
        task = store.tasks.create(title="while down")
        store.events.append_batch([{"event_type": "LOG", "task_id": task.id} for _ in range(25)])
        store.metrics.record_batch(
            [{"name": "m", "value": 1.0, "task_id": task.id} for _ in range(4)]
        )
        written = len(store.events.list(task_id=task.id, limit=100).items)
    assert written == 26  # the task's creation and the batch
    behind = json.loads(flightlog(env, "sink", "status", "--json").stdout)
    assert behind["rows_behind"] == {"events": written, "metric_points": 4}
    assert behind["seconds_behind"] > 0
    assert flightlog(env, "sink", "run", "--once", "--quiet").returncode == 0
    assert all(check["matches"] for check in verified(env))


def test_a_sink_made_with_the_old_key_of_metric_points_is_rebuilt_and_missing_rows_return(
    dialect: str, sources: Sources, tmp_path: Path
) -> None:
    """A sink of an earlier version (metric points ordered by customer and time) whose old
    table also lost its two newest points (what a writer added during the copy would
    lose): the next start rebuilds the table keyed by task and name and reads those
    points again; then a deleted task's points go, with a task and without one (a NULL
    in the key)."""
    source = sources.fresh(dialect)
    sink_url = f"chdb://{tmp_path / 'sink'}"
    env = environment(source, sink_url)
    with open_store_sync(url_of(source), upgrade=False) as store:
        task = store.tasks.create(title="series")
        run = store.runs.start(task.id)
        store.metrics.record_batch(
            [{"name": "latency_ms", "value": float(i), "task_id": task.id} for i in range(6)]
        )
        store.metrics.record_batch([{"name": "tokens", "value": 1.0, "run_id": run.id}] * 3)
    assert flightlog(env, "sink", "run", "--once", "--quiet").returncode == 0
    legacy = subprocess.run(
        [sys.executable, str(TOOLS / "sink_legacy_layout.py"), sink_url, "2"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert legacy.returncode == 0, legacy.stderr
    assert len(json.loads(legacy.stdout)) == 2
    points = next(c for c in verified(env) if c["table"] == "metric_points")
    assert (points["primary_rows"], points["sink_rows"]) == (9, 7)

    rebuilt = flightlog(env, "sink", "run", "--once", "--quiet")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert all(check["matches"] for check in verified(env))
    status = json.loads(flightlog(env, "sink", "status", "--json").stdout)
    assert status["rows_behind"]["metric_points"] == 0

    with open_store_sync(url_of(source), upgrade=False) as store:
        store.tasks.delete(task.id)
    assert flightlog(env, "sink", "run", "--once", "--quiet").returncode == 0
    checks = verified(env)
    assert all(check["matches"] for check in checks), checks
    points = next(c for c in checks if c["table"] == "metric_points")
    assert (points["primary_rows"], points["sink_rows"]) == (0, 0)

"""At interpreter exit the tracer delivers what it holds, and gives up in time when it cannot.

Each program runs in a child interpreter and never calls ``flush`` or ``close``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flightlog import RunStatus
from flightlog.db.engine import create_sync_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.models import Event, Task, TaskRun
from flightlog.settings import Settings
from pg_cluster import free_port
from tracing_support import url_text


def _run_program(source: str, cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result, time.monotonic() - started


def test_records_still_buffered_at_exit_are_delivered(
    dialect: str, fresh_head_url: DatabaseUrl, test_settings: Settings, tmp_path: Path
) -> None:
    program = f"""
        import flightlog.tracing as fl

        # Nothing is due for an hour: only the exit hook can send the late events.
        fl.configure({url_text(fresh_head_url)!r}, config=fl.TracerConfig(flush_interval=3600,
                     max_batch=100_000))
        with fl.run(title="Exit without flushing") as run:
            pass
        for i in range(2000):
            assert run.event("log", content=str(i))
        assert fl.get_tracer().stats.pending >= 2000
    """
    result, _elapsed = _run_program(program, tmp_path)
    assert result.returncode == 0, result.stderr
    engine = create_sync_engine(test_settings, url=fresh_head_url)
    try:
        with Session(engine) as session:
            run = session.scalars(
                select(TaskRun).join(Task).where(Task.title == "Exit without flushing")
            ).one()
            assert run.status is RunStatus.COMPLETED
            logs = session.scalar(
                select(func.count()).where(Event.run_id == run.id, Event.event_type == "LOG")
            )
            assert logs == 2000
    finally:
        engine.dispose()


def test_exit_gives_up_after_exit_timeout_when_flightlog_is_unreachable(tmp_path: Path) -> None:
    program = f"""
        import flightlog.tracing as fl

        fl.configure("http://127.0.0.1:{free_port()}", api_key="fl_unused",
                     config=fl.TracerConfig(exit_timeout=1.0, retry_initial_delay=0.05))
        with fl.run(title="Nobody listens") as run:
            run.event("log", content="lost at exit")
        print("the program finished")
    """
    result, elapsed = _run_program(program, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "the program finished"
    assert elapsed < 20, elapsed  # an interpreter start, one second of trying, and out
    assert "not delivered" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr


def test_runs_of_non_daemon_threads_still_open_at_exit_are_finished_and_delivered(
    dialect: str, fresh_head_url: DatabaseUrl, test_settings: Settings, tmp_path: Path
) -> None:
    program = f"""
        import threading

        import flightlog.tracing as fl

        fl.configure({url_text(fresh_head_url)!r})

        def agent() -> None:
            with fl.run(title="Outlives the main thread") as run:
                run.event("log", content="early")
                # Python marks the main thread stopped after its early exit hooks,
                # then waits for this (non-daemon) thread: record only then.
                while threading.main_thread().is_alive():
                    threading.Event().wait(0.01)
                assert run.event("log", content="late")

        threading.Thread(target=agent).start()
        print("main returns")
    """
    result, _elapsed = _run_program(program, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "after the tracer closed" not in result.stderr, result.stderr
    engine = create_sync_engine(test_settings, url=fresh_head_url)
    try:
        with Session(engine) as session:
            run = session.scalars(
                select(TaskRun).join(Task).where(Task.title == "Outlives the main thread")
            ).one()
            assert run.status is RunStatus.COMPLETED
            contents = session.scalars(
                select(Event.content).where(Event.run_id == run.id, Event.event_type == "LOG")
            ).all()
            assert sorted(c or "" for c in contents) == ["early", "late"]
    finally:
        engine.dispose()

"""Flightlog going away mid-run never reaches agent code, and nothing accepted is lost.

Three real outages: a ``flightlog serve`` killed and restarted on its port
(over HTTP, on both dialects), a private PostgreSQL cluster stopped and
started under an embedded tracer, and SQLite's write lock held past the busy
timeout by another connection. The same agent program runs through each;
afterwards every record it was told was accepted is in the database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine

from flightlog import AgentRunStatus, RunStatus
from flightlog.db.engine import create_sync_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.migrations.runner import Migrator
from flightlog.settings import Settings
from flightlog.tracing import Tracer
from pg_cluster import PrivateCluster
from tracing_support import FAST, Rows, Served, by_name, make_api_key, url_text
from waiting import wait_until

TIMEOUT = 120.0

pytestmark = pytest.mark.slow


def _through_an_outage(
    tracer: Tracer, engine: Engine, go_down: Callable[[], object], come_back: Callable[[], object]
) -> None:
    """An agent program that keeps working while Flightlog is down, then the rows it left."""
    accepted: list[bool] = []
    with tracer.run(title="Through an outage") as run:
        with run.agent("Before") as before:
            accepted += [run.event("log", content=f"before {i}") for i in range(50)]
            before.usage(prompt_tokens=10, cost="0.001")
        assert tracer.flush(TIMEOUT), tracer.stats  # all of it is written before the outage
        go_down()
        with run.agent("During") as during:
            accepted += [run.event("log", content=f"during {i}") for i in range(500)]
            during.usage(prompt_tokens=20, completion_tokens=5, cost="0.002")
            accepted.append(run.metric("progress", 0.5))
            accepted.append(run.artifact("notes.txt", "written while down"))
            try:
                with run.agent("Failing"):
                    raise RuntimeError("a tool crashed")
            except RuntimeError:
                pass
            wait_until(lambda: tracer.stats.failed_attempts > 0, 60, "a failed delivery")
            assert not tracer.flush(0.5)  # cannot be delivered now, and says so
            assert tracer.stats.pending > 0
        back = datetime.now(UTC)  # what happened before this was written only afterwards
        come_back()
        with run.agent("After"):
            accepted += [run.event("log", content=f"after {i}") for i in range(50)]
    assert tracer.flush(TIMEOUT), tracer.stats
    assert all(accepted)

    rows = Rows(engine)
    run_id = run.id.get()
    stored = rows.run(run_id)
    assert stored.status is RunStatus.COMPLETED
    expected = (
        [f"before {i}" for i in range(50)]
        + [f"during {i}" for i in range(500)]
        + [f"after {i}" for i in range(50)]
    )
    assert [e.content for e in rows.events(run_id, "LOG")] == expected  # each once, in order
    steps = by_name(rows.agent_runs(run_id))
    assert set(steps) == {"Before", "During", "Failing", "After"}
    assert steps["Failing"].parent_id == steps["During"].id
    assert steps["Failing"].status is AgentRunStatus.FAILED
    assert steps["Failing"].error_message == "RuntimeError: a tool crashed"
    assert steps["During"].status is AgentRunStatus.COMPLETED
    assert (steps["During"].tokens_in, steps["During"].tokens_out) == (20, 5)
    assert (stored.tokens_in, stored.cost_usd) == (30, Decimal("0.003"))
    assert [m.name for m in rows.metrics(run_id)] == ["progress"]
    assert [a.name for a in rows.artifacts(run_id)] == ["notes.txt"]
    stats = tracer.stats
    assert (stats.pending, stats.dropped, stats.refused) == (0, 0, 0)
    assert stats.failed_attempts > 0
    # Written late, but stamped with when they happened (the tracer sends the times it saw).
    during, failing = steps["During"], steps["Failing"]
    assert during.started_at < failing.started_at <= failing.finished_at < back
    assert during.finished_at is not None
    assert during.finished_at < back
    assert during.duration_seconds == (during.finished_at - during.started_at).total_seconds()
    written_during = [e for e in rows.events(run_id, "LOG") if e.content.startswith("during")]
    assert all(during.started_at <= e.created_at < back for e in written_during)
    assert stored.started_at < during.started_at


@pytest.fixture
def engine_on(test_settings: Settings) -> Iterator[Callable[[DatabaseUrl], Engine]]:
    engines: list[Engine] = []

    def make(url: DatabaseUrl) -> Engine:
        engines.append(create_sync_engine(test_settings, url=url))
        return engines[-1]

    yield make
    for engine in engines:
        engine.dispose()


def test_a_killed_server_restarted_on_its_port(
    dialect: str,
    fresh_head_url: DatabaseUrl,
    test_settings: Settings,
    tmp_path: Path,
    engine_on: Callable[[DatabaseUrl], Engine],
) -> None:
    url = url_text(fresh_head_url)
    key = make_api_key(url, test_settings)
    served = [Served(url, tmp_path / "serve.log")]
    tracer = Tracer.remote(served[0].base, api_key=key, config=FAST)
    try:
        _through_an_outage(
            tracer,
            engine_on(fresh_head_url),
            go_down=served[0].kill,
            come_back=lambda: served.append(
                Served(url, tmp_path / "serve.log", port=served[0].port)
            ),
        )
    finally:
        tracer.close(TIMEOUT)
        served[-1].stop()


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    own = PrivateCluster()
    try:
        own.start()
        own.create_database("flightlog")
        yield own
    finally:
        own.remove()


@pytest.mark.postgres_only
def test_postgres_stopped_and_started_under_an_embedded_tracer(
    dialect: str,
    cluster: PrivateCluster,
    test_settings: Settings,
    engine_on: Callable[[DatabaseUrl], Engine],
) -> None:
    url = cluster.url("flightlog")
    Migrator(test_settings, url).upgrade("head")
    tracer = Tracer.embedded(url_text(url), settings=test_settings, config=FAST)
    try:
        _through_an_outage(tracer, engine_on(url), go_down=cluster.stop, come_back=cluster.start)
    finally:
        tracer.close(TIMEOUT)


@pytest.mark.sqlite_only
def test_sqlite_locked_past_the_busy_timeout_under_an_embedded_tracer(
    dialect: str,
    fresh_head_url: DatabaseUrl,
    test_settings: Settings,
    engine_on: Callable[[DatabaseUrl], Engine],
) -> None:
    settings = test_settings.model_copy(update={"sqlite_busy_timeout_ms": 100})
    path = fresh_head_url.url.database
    assert path is not None
    locker = sqlite3.connect(path, isolation_level=None)

    def lock() -> None:
        locker.execute("BEGIN IMMEDIATE")
        locker.execute("UPDATE customers SET name = name")

    tracer = Tracer.embedded(url_text(fresh_head_url), settings=settings, config=FAST)
    try:
        _through_an_outage(
            tracer,
            engine_on(fresh_head_url),
            go_down=lock,
            come_back=lambda: locker.execute("ROLLBACK"),
        )
    finally:
        tracer.close(TIMEOUT)
        locker.close()

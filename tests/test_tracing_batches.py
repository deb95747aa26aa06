"""One-at-a-time recording calls reach Flightlog in batches, and the buffer's bound holds.

Transactions are counted where they happen: on the embedded Store's engine
(SQLAlchemy ``commit`` events), as ``POST /events`` requests in the server's
access log, and on PostgreSQL also as the distinct transaction ids
(``xmin``) of the stored rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, event

from flightlog import RunStatus
from flightlog.settings import Settings
from flightlog.tracing import Tracer, TracerConfig
from pg_cluster import free_port
from postgres_server import PostgresServer
from tracing_support import (
    Databases,
    Rows,
    Served,
    Target,
    by_name,
    close_all,
    databases,
    target,
    url_text,
)

TIMEOUT = 120.0
EVENTS = 10_000
METRICS = 2_000


@pytest.fixture(scope="module")
def own_databases(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_server: PostgresServer | None,
    test_settings: Settings,
) -> Iterator[Databases]:
    yield from databases(tmp_path_factory.mktemp("batches"), postgres_server, test_settings)


@pytest.fixture(params=["embedded", "http"])
def where(
    request: pytest.FixtureRequest, dialect: str, own_databases: Databases
) -> Iterator[Target]:
    made: list[Tracer] = []
    yield target(request.param, dialect, own_databases, made)
    close_all(made)


class Commits:
    """Counts COMMITs on every engine of this process (the tracer's own included)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, connection: object) -> None:
        self.count += 1

    def __enter__(self) -> Commits:
        event.listen(Engine, "commit", self)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(Engine, "commit", self)


def _event_posts(served: Served) -> int:
    return served.log.read_text().count('"POST /api/v1/events HTTP/1.1" 201')


def test_ten_thousand_single_events_arrive_in_a_few_transactions(where: Target) -> None:
    tracer = where.tracer(TracerConfig(max_batch=1000, flush_interval=0.5))
    with tracer.run(title="Chatty agent") as run, run.agent("Talker") as step:
        run.id.get(TIMEOUT)
        step.id.get(TIMEOUT)  # the run and step are written: from here on, only events
        posts_before = _event_posts(where.server) if where.server is not None else 0
        with Commits() as commits:
            for i in range(EVENTS):
                run.event("log", content=f"line {i}")
            for i in range(METRICS):
                run.metric("tokens.per.second", float(i))
            assert tracer.flush(TIMEOUT), tracer.stats
        transactions = _event_posts(where.server) - posts_before if where.server else commits.count
    assert tracer.flush(TIMEOUT), tracer.stats

    print(
        f"\n{where.face}/{where.dialect}: {EVENTS:,} events and {METRICS:,} points in "
        f"{transactions} {'event requests' if where.server else 'commits'}"
    )
    # 10 batches of events and 2 of points at the least; a few more when the worker takes
    # the queue while the loop is still filling it. Far from one per call either way.
    assert transactions <= 40, transactions
    rows = where.rows()
    run_id = run.id.get()
    logs = rows.events(run_id, "LOG")
    assert [e.content for e in logs] == [f"line {i}" for i in range(EVENTS)]
    assert {e.agent_run_id for e in logs} == {step.id.get()}
    assert len(rows.metrics(run_id)) == METRICS
    if where.dialect == "postgresql":
        writers = rows.count(
            "SELECT count(DISTINCT xmin::text) FROM events "
            "WHERE run_id = :run AND event_type = 'LOG'",
            run=run_id,
        )
        assert writers <= 30, writers
    stats = tracer.stats
    assert (stats.pending, stats.dropped, stats.refused) == (0, 0, 0)


def test_past_the_bound_new_records_are_dropped_and_counted(
    dialect: str, own_databases: Databases, tmp_path: Path
) -> None:
    """Flightlog is down from the start; the buffer holds ``max_buffered`` and no more."""
    url = url_text(own_databases.url(dialect))
    key = own_databases.server(dialect)[1]
    port = free_port()
    config = TracerConfig(
        max_buffered=100,
        max_buffered_bytes=1000,
        flush_interval=0.05,
        retry_initial_delay=0.05,
        retry_max_delay=0.2,
    )
    tracer = Tracer.remote(f"http://127.0.0.1:{port}", api_key=key, config=config)
    served: Served | None = None
    try:
        with tracer.run(title="Outage from the start") as run:
            assert run.artifact("kept.bin", b"k" * 600)
            assert not run.artifact("too-much.bin", b"d" * 600)  # past max_buffered_bytes
            with run.agent("Busy") as busy:
                accepted = [run.event("log", content=f"#{i}") for i in range(150)]
                busy.usage(prompt_tokens=7)  # usage is a lifecycle record: kept
                assert not run.metric("lost", 1.0)  # the data bound is reached
            steps = [run.agent(f"step{i}") for i in range(100)]
            for step in steps:  # 1 run + Busy + 98 steps are held starts; two are dropped
                with step:
                    pass
            assert not run.event("log", content="step99's event")
        assert accepted == [True] * 99 + [False] * 51  # the artifact holds one place
        # The artifact, events, the metric, two step starts, the last event.
        assert tracer.stats.dropped == 1 + 51 + 1 + 2 + 1
        assert tracer.stats.sent == 0
        served = Served(url, tmp_path / "serve.log", port=port)  # Flightlog comes up
        assert tracer.flush(TIMEOUT), tracer.stats
        stored = Rows(own_databases.engine(dialect))
        run_id = run.id.get()
        assert stored.run(run_id).status is RunStatus.COMPLETED
        assert [e.content for e in stored.events(run_id, "LOG")] == [f"#{i}" for i in range(99)]
        assert [a.name for a in stored.artifacts(run_id)] == ["kept.bin"]
        names = by_name(stored.agent_runs(run_id))
        assert len(names) == 99  # Busy and step0 … step97
        assert names["Busy"].tokens_in == 7
        assert "step98" not in names
        stats = tracer.stats
        assert (stats.pending, stats.refused) == (0, 0)
        assert stats.failed_attempts > 0
        assert stats.last_error is not None
    finally:
        tracer.close(TIMEOUT)
        if served is not None:
            served.stop()


def test_a_recording_call_only_appends_to_the_buffer(where: Target) -> None:
    """``run.event()`` writes nothing itself: with nothing due, every record waits in the buffer.

    (What a call costs is measured in benchmarks/tracing.py, not asserted here.)
    """
    tracer = where.tracer(TracerConfig(max_batch=100_000, flush_interval=3600))
    with tracer.run(title="Buffered") as run, run.agent("Recorder"):
        run.id.get(TIMEOUT)
        for i in range(EVENTS):
            run.event("log", content="tick", data={"i": i})
        assert tracer.stats.pending >= EVENTS  # all still buffered: nothing was due
        assert where.rows().events(run.id.get(), "LOG") == []
    assert tracer.flush(TIMEOUT), tracer.stats
    assert len(where.rows().events(run.id.get(), "LOG")) == EVENTS

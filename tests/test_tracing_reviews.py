"""Defects a review found in the tracer, each on real databases: what must hold now.

An embedded tracer started before its database comes up records everything
once it does; one record that cannot be prepared does not stop the worker;
a forked child records its own runs (and never the parent's twice).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

import pytest

import flightlog.tracing as fl
from flightlog import AgentRunStatus, RunStatus
from flightlog.db.engine import create_sync_engine
from flightlog.settings import Settings
from flightlog.tracing import NotRecorded, Tracer, TracerConfig
from flightlog.tracing.backend import Backend
from flightlog.tracing.embedded import embedded_backend
from pg_cluster import PrivateCluster
from postgres_server import PostgresServer
from tracing_support import (
    FAST,
    Databases,
    Rows,
    Target,
    close_all,
    databases,
    target,
    url_text,
)
from waiting import wait_until

TIMEOUT = 120.0


@pytest.fixture
def stopped_cluster() -> Iterator[PrivateCluster]:
    """A private cluster with a migrated database ``flightlog``, stopped."""
    own = PrivateCluster()
    try:
        own.start()
        own.create_database("flightlog")
        own.stop()
        yield own
    finally:
        own.remove()


@pytest.mark.slow
def test_embedded_tracer_started_before_its_database_records_everything_once_it_is_up(
    stopped_cluster: PrivateCluster, test_settings: Settings
) -> None:
    url = stopped_cluster.url("flightlog")
    tracer = Tracer.embedded(url_text(url), settings=test_settings, config=FAST)
    try:
        with tracer.run(title="Before the database") as run:
            assert all(run.event("log", content=f"early {i}") for i in range(20))
        wait_until(lambda: tracer.stats.failed_attempts > 0, TIMEOUT, "a failed open")
        assert tracer.stats.refused == 0, tracer.stats
        stopped_cluster.start()
        assert tracer.flush(TIMEOUT), tracer.stats
        with tracer.run(title="After the database came") as later:
            later.event("log", content="late")
        assert tracer.flush(TIMEOUT), tracer.stats
        stats = tracer.stats
        assert (stats.refused, stats.dropped, stats.pending) == (0, 0, 0), stats
        engine = create_sync_engine(test_settings, url=url)
        try:
            rows = Rows(engine)
            first = rows.run(run.id.get(TIMEOUT))
            assert first.status is RunStatus.COMPLETED
            assert [e.content for e in rows.events(run.id.get(TIMEOUT), "LOG")] == [
                f"early {i}" for i in range(20)
            ]
            assert rows.run(later.id.get(TIMEOUT)).status is RunStatus.COMPLETED
            assert len(rows.events(later.id.get(TIMEOUT), "LOG")) == 1
        finally:
            engine.dispose()
    finally:
        tracer.close(timeout=30)


@pytest.fixture(scope="module")
def own_databases(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_server: PostgresServer | None,
    test_settings: Settings,
) -> Iterator[Databases]:
    yield from databases(tmp_path_factory.mktemp("reviews"), postgres_server, test_settings)


@pytest.fixture
def embedded(dialect: str, own_databases: Databases) -> Iterator[Target]:
    made: list[Tracer] = []
    yield target("embedded", dialect, own_databases, made)
    close_all(made)


class Weird(dict[str, object]):
    """A mapping whose ``items()`` raises: JSON encoding (and copying) it fails."""

    def items(self) -> Any:
        raise RuntimeError("items() of Weird always raises")


class CopiedAsItIs(Weird):
    """Gets past the snapshot at the call (its deep copy is itself) to fail in the worker."""

    def __deepcopy__(self, memo: dict[int, object]) -> CopiedAsItIs:
        return self


def test_a_record_that_cannot_be_prepared_is_refused_and_the_worker_goes_on(
    embedded: Target,
) -> None:
    tracer = embedded.tracer()
    with tracer.run(title="One odd value") as run:
        assert run.event("log", content="weird", data={"w": CopiedAsItIs(a=1)})
        run.event("log", content="fine")
    with tracer.run(title="After the odd value") as after:
        after.event("log", content="after")
    assert tracer.flush(TIMEOUT), tracer.stats
    assert tracer.stats.refused == 1, tracer.stats
    assert tracer.stats.pending == 0, tracer.stats
    rows = embedded.rows()
    assert [e.content for e in rows.events(run.id.get(TIMEOUT), "LOG")] == ["fine"]
    assert [e.content for e in rows.events(after.id.get(TIMEOUT), "LOG")] == ["after"]
    assert rows.run(after.id.get(TIMEOUT)).status is RunStatus.COMPLETED


@dataclass
class FailingOnce:
    """The real Store, except that reaching ``runs`` raises once: an error no check foresaw."""

    store: Backend
    failed: bool = False

    def __getattr__(self, name: str) -> Any:
        if name == "runs" and not self.failed:
            self.failed = True
            raise RuntimeError("a bug reaching runs")
        return getattr(self.store, name)


def test_the_worker_survives_an_unexpected_error_while_sending(
    embedded: Target, test_settings: Settings
) -> None:
    opener = embedded_backend(url_text(embedded.url), settings=test_settings)

    @asynccontextmanager
    async def failing_once() -> AsyncIterator[Backend]:
        async with opener() as store:
            yield cast(Backend, FailingOnce(store))

    tracer = Tracer(failing_once, config=FAST)
    embedded.made.append(tracer)
    with tracer.run(title="Hit by the bug") as lost:
        lost.event("log", content="lost")
    assert tracer.flush(TIMEOUT), tracer.stats
    with pytest.raises(NotRecorded):
        lost.id.get(TIMEOUT)
    with tracer.run(title="After the bug") as run:
        run.event("log", content="kept")
    assert tracer.flush(TIMEOUT), tracer.stats
    rows = embedded.rows()
    assert rows.run(run.id.get(TIMEOUT)).status is RunStatus.COMPLETED
    assert [e.content for e in rows.events(run.id.get(TIMEOUT), "LOG")] == ["kept"]
    stats = tracer.stats
    assert (stats.pending, stats.refused) == (0, 3), stats  # the lost run's start, event, finish


def test_a_forked_child_records_its_own_runs_and_never_the_parents_twice(
    embedded: Target,
) -> None:
    # Nothing is due for an hour: the parent's events are still queued at the fork.
    tracer = embedded.tracer(TracerConfig(flush_interval=3600, max_batch=100_000))
    title = f"parent {uuid.uuid4().hex[:8]}"
    with tracer.run(title=title) as parent:
        assert all(parent.event("log", content=f"parent {i}") for i in range(100))
        assert tracer.stats.pending > 0
        child_title = f"child of {title}"
        pid = os.fork()
        if pid == 0:  # the child: record a run of its own, report by the exit code
            code = 1
            try:
                with tracer.run(title=child_title) as child:
                    child.event("log", content="from the child")
                stats = tracer.stats
                if tracer.flush(TIMEOUT) and tracer.stats.sent == 3 and stats.dropped == 0:
                    code = 0
            finally:
                os._exit(code)
        _pid, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    assert tracer.flush(TIMEOUT), tracer.stats
    rows = embedded.rows()
    parent_id = parent.id.get(TIMEOUT)
    assert [e.content for e in rows.events(parent_id, "LOG")] == [f"parent {i}" for i in range(100)]
    assert rows.count("SELECT count(*) FROM tasks WHERE title = :t", t=title) == 1
    assert rows.count("SELECT count(*) FROM tasks WHERE title = :t", t=child_title) == 1
    assert (
        rows.count(
            "SELECT count(*) FROM events e JOIN task_runs r ON r.id = e.run_id "
            "JOIN tasks t ON t.id = r.task_id WHERE t.title = :t AND e.content = 'from the child'",
            t=child_title,
        )
        == 1
    )


def rows_now(where: Target, run: fl.Run) -> Any:
    return where.rows().run(run.id.get(TIMEOUT))


def test_configure_while_a_run_is_open_lets_that_run_finish_and_arrive(
    embedded: Target,
) -> None:
    url = url_text(embedded.url)
    first = fl.configure(url, settings=embedded.settings, config=FAST)
    try:
        with fl.run(title="Spans a configure") as run:
            with run.agent("Across") as step:
                second = fl.configure(url, settings=embedded.settings, config=FAST)
                assert run.event("log", content="after configure")
                assert step.usage(prompt_tokens=5, cost="0.001")
            with fl.run(title="On the new default") as other:
                other.event("log", content="new")
        assert second is fl.get_tracer()
        assert second is not first
        with first.run(title="On the replaced tracer") as late:
            assert not late.event("log", content="dropped")  # no new run on a replaced tracer
        assert fl.flush(TIMEOUT), (first.stats, second.stats)  # waits for the replaced one too
        assert rows_now(embedded, run).status is RunStatus.COMPLETED
        wait_until(lambda: not first._worker.alive, TIMEOUT, "the replaced tracer's worker to end")
        assert (first.stats.pending, first.stats.refused) == (0, 0), first.stats
        rows = embedded.rows()
        stored = rows.run(run.id.get(TIMEOUT))
        assert stored.status is RunStatus.COMPLETED
        steps = rows.agent_runs(stored.id)
        assert [(s.agent_name, s.status, s.tokens_in) for s in steps] == [
            ("Across", AgentRunStatus.COMPLETED, 5)
        ]
        assert [e.content for e in rows.events(stored.id, "LOG")] == ["after configure"]
        assert rows.run(other.id.get(TIMEOUT)).status is RunStatus.COMPLETED
        with pytest.raises(NotRecorded):
            late.id.get(TIMEOUT)
    finally:
        assert fl.shutdown(TIMEOUT)
        first.close(TIMEOUT)


def test_event_data_and_metric_labels_are_recorded_as_they_were_at_the_call(
    embedded: Target,
) -> None:
    tracer = embedded.tracer()
    with tracer.run(title="Mutated afterwards") as run:
        state: dict[str, Any] = {"messages": ["hello"]}
        assert run.event("log", content="snapshot", data=state)
        state["messages"].append("added after the event was recorded")
        labels: dict[str, Any] = {"model": {"name": "a"}}
        assert run.metric("m", 1, labels=labels)
        labels["model"]["name"] = "b"
        assert not run.event("log", content="uncopyable", data={"w": Weird(a=1)})
    assert tracer.flush(TIMEOUT), tracer.stats
    rows = embedded.rows()
    run_id = run.id.get(TIMEOUT)
    assert [e.data for e in rows.events(run_id, "LOG")] == [{"messages": ["hello"]}]
    assert [p.labels for p in rows.metrics(run_id)] == [{"model": {"name": "a"}}]
    assert tracer.stats.refused == 1, tracer.stats


class Factory:
    @fl.agent_step("Maker")
    @classmethod
    def make(cls, size: int) -> str:
        return f"{cls.__name__} of {size}"

    @fl.agent_step("Helper")
    @staticmethod
    def help(topic: str) -> str:
        return f"help on {topic}"


def test_agent_step_above_classmethod_and_staticmethod_records_each_call(
    embedded: Target,
) -> None:
    tracer = embedded.tracer()
    with tracer.run(title="Methods of a class") as run:
        assert Factory.make(3) == "Factory of 3"
        assert Factory().make(4) == "Factory of 4"
        assert Factory.help("tracing") == "help on tracing"
    assert tracer.flush(TIMEOUT), tracer.stats
    steps = embedded.rows().agent_runs(run.id.get(TIMEOUT))
    assert [(s.agent_name, s.details["input"], s.output_summary) for s in steps] == [
        ("Maker", "size=3", "Factory of 3"),
        ("Maker", "size=4", "Factory of 4"),
        ("Helper", "topic=tracing", "help on tracing"),
    ]


def test_large_bytes_inputs_are_summarised_within_the_limit_and_oversized_artifacts_say_so(
    embedded: Target, caplog: pytest.LogCaptureFixture
) -> None:
    config = TracerConfig(
        flush_interval=0.05, retry_initial_delay=0.05, summary_chars=100, max_buffered_bytes=1000
    )
    tracer = embedded.tracer(config)
    with tracer.run(title="Big inputs") as run:
        with run.agent("Reader", input=b"x" * 20_000_000):
            pass
        with run.agent("Nested", input={"blob": bytearray(b"y" * 5_000_000)}):
            pass
        with caplog.at_level("WARNING", logger="flightlog.tracing"):
            assert not run.artifact("huge.bin", b"z" * 5000)
    assert tracer.flush(TIMEOUT), tracer.stats
    steps = embedded.rows().agent_runs(run.id.get(TIMEOUT))
    inputs = {s.agent_name: s.details["input"] for s in steps}
    assert inputs["Reader"].startswith("b'xxx")
    assert inputs["Nested"].startswith("{'blob': bytearray(b'yyy")
    assert all(len(text) < 200 for text in inputs.values()), inputs
    assert "can never fit" in caplog.text
    assert "Flightlog unreachable" not in caplog.text

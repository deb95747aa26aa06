"""The synchronous ``Client`` against a real ``flightlog serve``, on both databases: a whole
scenario with no asyncio in it, a live event stream over a real socket, calls from several
threads, and a server that goes away."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import pytest

from flightlog import InvalidTransition, NotFound
from flightlog.client import Client, ServerUnreachable
from flightlog.enums import AgentRunStatus, RunStatus, TaskStatus
from flightlog.schemas.runs import RunOut
from flightlog.schemas.tasks import TaskOut
from flightlog.settings import Settings
from postgres_server import PostgresServer
from tracing_support import Served, make_api_key, new_database, url_text


@pytest.fixture
def served(
    dialect: str, tmp_path: Path, postgres_server: PostgresServer | None, test_settings: Settings
) -> Iterator[tuple[Served, str]]:
    """A server on a database of its own (it commits), and an API key for it."""
    url = new_database(dialect, tmp_path, postgres_server, test_settings)
    text = url_text(url)
    server = Served(text, tmp_path / "serve.log")
    try:
        yield server, make_api_key(text, test_settings)
    finally:
        server.stop()
        if postgres_server is not None and dialect == "postgresql":
            postgres_server.drop_database(url)


def test_a_whole_scenario_runs_without_asyncio(served: tuple[Served, str]) -> None:
    server, key = served
    with Client(server.base, key) as fl:
        assert fl.health().status == "ok"
        task = fl.tasks.create(title="Sync work", tags=["sync"], memory_size=64)
        assert isinstance(task, TaskOut)
        assert fl.tasks.update(task.id, priority=2).priority == 2
        run = fl.runs.start(task.id, input_context={"round": 1})
        assert isinstance(run, RunOut)
        step = fl.agent_runs.start(run.id, agent_name="Engineer")
        fl.agent_runs.record_usage(step.id, tokens_in=100, cost_usd=0.5)
        fl.agent_runs.finish(step.id, status=AgentRunStatus.COMPLETED, output_summary="ok")
        first = fl.events.append({"event_type": "message", "run_id": run.id, "content": "hi"})
        ids = fl.events.append_batch([{"event_type": "log", "run_id": run.id}] * 3)
        assert [e.id for e in fl.events.list(run_id=run.id, after_id=first.id - 1).items] == [
            first.id,
            *ids,
        ]
        assert fl.metrics.record_batch([{"name": "ms", "value": 5, "run_id": run.id}]) == 1
        assert [p.value for p in fl.metrics.series("ms", run_id=run.id)] == [5.0]
        artifact = fl.artifacts.put(task.id, "out/report.txt", b"done", run_id=run.id)
        assert fl.artifacts.read(artifact.id) == b"done"
        finished = fl.runs.finish(run.id, results={"ok": True})
        assert (finished.status, finished.tokens_in) == (RunStatus.COMPLETED, 100)
        with pytest.raises(InvalidTransition):
            fl.runs.finish(run.id)
        assert fl.tasks.get(task.id).status == TaskStatus.COMPLETED

        queued = fl.tasks.create(title="for a worker")
        [claim] = fl.claims.claim("worker-1")
        assert claim.task_id == queued.id
        assert fl.claims.heartbeat(queued.id, "worker-1") >= claim.lease_expires_at
        assert fl.claims.complete(claim).status == RunStatus.COMPLETED

        project = fl.projects.create(name="sync")
        made = fl.recommendations.create(
            recommendation_type="cost", title="t", confidence_score=0.5, project_id=project.id
        )
        assert fl.recommendations.approve(made.id, decided_by="me").recommendation_id == made.id
        with pytest.raises(NotFound):
            fl.projects.delete(task.id)


def test_a_live_stream_threads_and_a_server_that_goes_away(served: tuple[Served, str]) -> None:
    server, key = served
    with Client(server.base, key, timeout=10) as fl:
        task = fl.tasks.create(title="live")
        [before] = fl.events.append_batch([{"event_type": "log", "task_id": task.id}])
        stream = fl.events.stream(
            task_id=task.id, after_id=before - 1, poll_seconds=0.25, timeout_seconds=30
        )
        with closing(stream) as events:
            assert next(events).id == before
            # Appended while the stream is open: the same connection delivers them.
            later = fl.events.append_batch([{"event_type": "log", "task_id": task.id}] * 2)
            assert [next(events).id, next(events).id] == later

        with ThreadPoolExecutor(max_workers=4) as pool:
            made = list(pool.map(lambda i: fl.tasks.create(title=f"t{i}").id, range(8)))
        listed = fl.tasks.list(limit=50).items
        assert set(made) <= {t.id for t in listed}

        server.kill()
        with pytest.raises(ServerUnreachable) as gone:
            fl.tasks.get(task.id)
    # Usually refused outright; a pooled connection cut mid-request may have been sent on.
    assert isinstance(gone.value.details["request_sent"], bool)

"""``flightlog seed`` is deterministic: the same seed gives the same rows on any database."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from flightlog import open_store
from flightlog.db.engine import async_session_factory, create_async_db_engine, create_sync_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.enums import ArtifactType
from flightlog.migrations.runner import Migrator
from flightlog.models import Customer, Event, Task, TaskRun
from flightlog.ops import seeding
from flightlog.ops.export import export_lines
from flightlog.ops.export_scope import Scope
from flightlog.ops.seeding import SIZES, SeedSize, seed_database
from flightlog.settings import Settings

#: Big enough to cover every generated kind of row, small enough for a quick suite.
TINY = SeedSize("tiny", tasks=8, runs_per_task=3, events_per_run=10, metrics_per_run=4)


async def _seed(url: DatabaseUrl, settings: Settings, seed: int) -> dict[str, int]:
    Migrator(settings, url).upgrade("head")
    engine = create_async_db_engine(settings, url=url)
    try:
        async with async_session_factory(engine)() as session, session.begin():
            return await session.run_sync(seed_database, seed=seed, size=TINY)
    finally:
        await engine.dispose()


def _rows(url: DatabaseUrl, settings: Settings) -> set[str]:
    engine = create_sync_engine(settings, url=url)
    try:
        with engine.connect() as connection:
            lines = export_lines(
                connection, Scope("all"), schema_revision="x", blob_dir=settings.blob_dir
            )
            next(lines)  # the header carries the export time
            return set(lines)
    finally:
        engine.dispose()


async def test_same_seed_same_data_different_seed_different_data(
    fresh_url: DatabaseUrl, tmp_path: Path, test_settings: Settings
) -> None:
    twin = DatabaseUrl.parse(f"sqlite:///{tmp_path / 'twin.db'}")
    other = DatabaseUrl.parse(f"sqlite:///{tmp_path / 'other.db'}")
    counts = await _seed(fresh_url, test_settings, seed=7)
    await _seed(twin, test_settings, seed=7)
    await _seed(other, test_settings, seed=8)
    spec = TINY
    assert counts["tasks"] == spec.tasks
    assert counts["events"] == spec.tasks * spec.runs_per_task * spec.events_per_run
    assert _rows(fresh_url, test_settings) == _rows(twin, test_settings)
    assert _rows(fresh_url, test_settings) != _rows(other, test_settings)
    engine = create_sync_engine(test_settings, url=fresh_url)
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Event)) == counts["events"]
        stats = connection.execute(
            select(Task.total_runs, Task.successful_runs, Task.failed_runs)
        ).all()
        runs = connection.scalar(select(func.count()).select_from(TaskRun))
        completed = connection.scalar(
            select(func.count()).select_from(TaskRun).where(TaskRun.status == "COMPLETED")
        )
    engine.dispose()
    assert {row[0] for row in stats} == {spec.runs_per_task}
    assert sum(row[0] for row in stats) == runs
    assert sum(row[1] for row in stats) == completed  # statistics agree with the runs


async def test_seeded_events_and_points_stream_through_the_batch_ingest_path(
    fresh_url: DatabaseUrl, test_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    streamed: Counter[str] = Counter()

    def counting(real: Any, kind: str) -> Any:
        def through_ingest(session: Any, *leading_then_rows: Any, **options: Any) -> int:
            *leading, rows = leading_then_rows

            def counted() -> Iterator[Any]:
                for row in rows:
                    streamed[kind] += 1
                    yield row

            written: int = real(session, *leading, counted(), **options)
            return written

        return through_ingest

    monkeypatch.setattr(seeding, "ingest_events", counting(seeding.ingest_events, "events"))
    monkeypatch.setattr(seeding, "ingest_metrics", counting(seeding.ingest_metrics, "metrics"))
    counts = await _seed(fresh_url, test_settings, seed=5)

    runs = TINY.tasks * TINY.runs_per_task
    assert streamed["events"] == counts["events"] == runs * TINY.events_per_run
    assert streamed["metrics"] == counts["metric_points"] == runs * TINY.metrics_per_run
    engine = create_sync_engine(test_settings, url=fresh_url)
    try:
        with engine.connect() as connection:
            first_run = connection.execute(
                select(TaskRun.id, TaskRun.started_at).order_by(TaskRun.started_at).limit(1)
            ).one()
            times = connection.scalars(
                select(Event.created_at).where(Event.run_id == first_run.id).order_by(Event.id)
            ).all()
    finally:
        engine.dispose()
    # The generator's times, not the database clock: the run's events every 250 ms from its start.
    assert times == [
        first_run.started_at + timedelta(milliseconds=250 * k) for k in range(TINY.events_per_run)
    ]


def test_the_large_size_reaches_a_million_events() -> None:
    large = SIZES["large"]
    assert large.tasks * large.runs_per_task * large.events_per_run >= 1_000_000


def test_seed_command_is_idempotent_per_seed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "flightlog", *args, "-d", url],
            capture_output=True,
            text=True,
            check=False,
            cwd=tmp_path,
            timeout=300,
        )

    first = run("seed", "--size", "small", "--seed", "3")
    assert first.returncode == 0, first.stderr
    assert "Seeded" in first.stdout
    second = run("seed", "--size", "small", "--seed", "3")
    assert second.returncode == 0
    assert "already in this database" in second.stdout
    counts = json.loads(run("stats", "--json").stdout)["counts"]
    assert counts["tasks"] == SIZES["small"].tasks
    bad = run("seed", "--size", "huge")
    assert bad.returncode != 0
    assert "Traceback" not in bad.stderr


async def test_seed000_seed_writes_every_aggregate_artifacts_included(
    fresh_url: DatabaseUrl, test_settings: Settings, tmp_path: Path
) -> None:
    """MGX's seed_data.py: tasks, runs, metrics and "reports, data, logs, configs" artifacts.

    The artifacts read back through the Store like uploaded ones (content checked
    against its SHA-256), and a report written by each completed run is a new
    version of the same name.
    """
    counts = await _seed(fresh_url, test_settings, seed=11)
    runs = TINY.tasks * TINY.runs_per_task
    for table in ("tasks", "task_runs", "agent_runs", "events", "metric_points"):
        assert counts[table] > 0, table
    assert runs < counts["artifacts"]
    assert 0 < counts["artifact_blobs"] <= counts["artifacts"]
    settings = test_settings.model_copy(update={"blob_dir": tmp_path / "blobs"})
    async with open_store(str(fresh_url.url), settings=settings) as anyone, anyone.reader() as s:
        customer_id = await s.scalar(
            select(Customer.id).where(Customer.email == seeding.seed_email(11, "tiny"))
        )
    assert customer_id is not None
    async with open_store(str(fresh_url.url), settings=settings, customer_id=customer_id) as store:
        tasks = (await store.tasks.list(limit=100)).items
        assert len(tasks) == TINY.tasks
        kinds: Counter[ArtifactType] = Counter()
        for task in tasks:
            latest = await store.artifacts.latest(task.id)
            assert {"config.json", "logs/run-1.log"} <= {a.name for a in latest}
            for artifact in latest:
                kinds[artifact.artifact_type] += 1
                content = await store.artifacts.read(artifact.id)  # verified against sha256
                assert len(content) == artifact.size_bytes
                assert artifact.run_id is not None
            completed = [r for r in await store.runs.list(task.id) if r.status.value == "COMPLETED"]
            reports = await store.artifacts.versions(task.id, "report.md")
            assert [a.version for a in reports] == list(range(1, len(completed) + 1))
            assert [a.run_id for a in reports] == [r.id for r in completed]
        assert set(kinds) == {
            ArtifactType.LOG,
            ArtifactType.CONFIG,
            ArtifactType.REPORT,
            ArtifactType.DATA,
        }
        [log] = [a for a in latest if a.name == "logs/run-1.log"]
        assert log.content_type == "text/plain; charset=utf-8"
        assert (await store.artifacts.read(log.id)).decode().startswith("TeamLeader: step done")

"""Seed 004's 90-day clean-up also removes finished tasks with everything they own.

``flightlog purge --older-than 90d --tasks``: finished (terminal) task trees
finished before the cutoff go with their subtasks, runs, agent runs, events,
metric points and artifacts, in short batches, blob files after each commit;
open tasks, recent ones and any tree with an open or recent member stay.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from cli_runner import CliCase, url_of
from flightlog.db.engine import create_sync_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.enums import TaskStatus
from flightlog.models import Artifact, Event, MetricPoint, PullRequest, Task, TaskRun
from flightlog.ops.purge import purge
from flightlog.settings import Settings
from flightlog.store import SyncStore, open_store_sync

NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=120)
RECENT = NOW - timedelta(days=10)
BIG = b"large output of an old task " * 4000
SHARED = b"bytes an old and a kept task both stored " * 4000


def _finish(store: SyncStore, task_id: uuid.UUID, status: TaskStatus, at: datetime) -> None:
    with store.session() as s, s.begin():
        s.execute(update(Task).where(Task.id == task_id).values(status=status, completed_at=at))


def _history(store: SyncStore) -> dict[str, uuid.UUID]:
    t = store.tasks.create
    ids = {
        "old_done": t(title="old done").id,
        "old_failed": t(title="old failed").id,
        "recent_done": t(title="recent done").id,
        "old_open": t(title="old but open").id,
        "live_parent": t(title="open parent").id,
        "old_with_live_child": t(title="old with an open child").id,
    }
    ids["old_done_child"] = t(title="old done child", parent_task_id=ids["old_done"]).id
    ids["grandchild"] = t(title="grandchild", parent_task_id=ids["old_done_child"]).id
    ids["done_child_of_live"] = t(title="done child", parent_task_id=ids["live_parent"]).id
    ids["live_child"] = t(title="open child", parent_task_id=ids["old_with_live_child"]).id
    run = store.runs.start(ids["old_done"])
    store.agent_runs.start(run.id, agent_name="Engineer")
    store.events.append({"event_type": "log", "task_id": ids["old_done"], "content": "recent"})
    store.metrics.record({"name": "tokens", "value": 3, "task_id": ids["old_done"]})
    store.artifacts.put(ids["grandchild"], "big.bin", BIG)
    store.artifacts.put(ids["old_done"], "shared.bin", SHARED)
    store.artifacts.put(ids["recent_done"], "shared.bin", SHARED)
    project = store.projects.create(name="purge")
    store.tasks.update(ids["old_done"], project_id=project.id)
    pr = store.pull_requests.create(
        project_id=project.id,
        repository_url="https://git.example/a.git",
        branch_name="b",
        title="from an old task",
        task_id=ids["old_done"],
    )
    ids["pull_request"] = pr.id
    with store.session() as s, s.begin():
        s.execute(
            update(TaskRun).where(TaskRun.task_id == ids["old_done"]).values(status="COMPLETED")
        )
    for name in ("old_done", "old_done_child", "grandchild", "done_child_of_live"):
        _finish(store, ids[name], TaskStatus.COMPLETED, OLD)
    _finish(store, ids["old_failed"], TaskStatus.FAILED, OLD)
    _finish(store, ids["old_with_live_child"], TaskStatus.CANCELLED, OLD)
    _finish(store, ids["recent_done"], TaskStatus.COMPLETED, RECENT)
    with store.session() as s, s.begin():
        s.execute(update(Task).where(Task.id == ids["old_open"]).values(created_at=OLD))
    return ids


PURGED = {"old_done", "old_done_child", "grandchild", "old_failed"}


def _left(store: SyncStore, ids: dict[str, uuid.UUID]) -> set[str]:
    with store.session() as s:
        present = set(s.scalars(select(Task.id)).all())
    return {name for name, task_id in ids.items() if task_id in present}


def _blob_files(root: Path) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file()) if root.exists() else 0


@pytest.mark.parametrize("task_batch_size", [1, 100])
def test_seed004_purge_tasks_removes_finished_trees_with_everything_they_own(
    fresh_url: DatabaseUrl, tmp_path: Path, test_settings: Settings, task_batch_size: int
) -> None:
    settings = test_settings.model_copy(update={"blob_dir": tmp_path / "blobs"})
    url = url_of(fresh_url)
    with open_store_sync(url, settings=settings) as store:
        ids = _history(store)
        tasks = set(ids) - {"pull_request"}
        assert _blob_files(settings.blob_dir) == 2
        engine = create_sync_engine(settings, url=fresh_url)
        try:
            dry = purge(engine, cutoff=NOW - timedelta(days=90), dry_run=True, tasks=True)
            assert (dry.tasks, dry.dry_run) == (len(PURGED), True)
            assert _left(store, ids) == tasks
            seen: list[tuple[str, int]] = []
            report = purge(
                engine,
                cutoff=NOW - timedelta(days=90),
                tasks=True,
                task_batch_size=task_batch_size,
                blob_dir=settings.blob_dir,
                progress=lambda name, n: seen.append((name, n)),
            )
        finally:
            engine.dispose()
        assert report.tasks == len(PURGED)
        assert _left(store, ids) == tasks - PURGED
        batches = [n for name, n in seen if name == "tasks"]
        assert sum(batches) == len(PURGED)
        if task_batch_size == 1:
            assert len(batches) == 2  # one tree per batch: old_done's three tasks, old_failed
        gone = [ids[name] for name in PURGED]
        with store.session() as s:
            for model in (TaskRun, Event, MetricPoint, Artifact):
                owned = select(func.count()).select_from(model).where(model.task_id.in_(gone))
                assert s.scalar(owned) == 0, model
            pr = s.get(PullRequest, ids["pull_request"])
            assert pr is not None
            assert pr.task_id is None
        # The blob only the purged grandchild used is gone (row and file); the shared one stays.
        assert report.blobs == 1
        assert _blob_files(settings.blob_dir) == 1
        [shared] = store.artifacts.versions(ids["recent_done"], "shared.bin")
        assert store.artifacts.read(shared.id) == SHARED


def test_seed004_purge_tasks_cli_dry_run_first_then_asks(cli_case: CliCase) -> None:
    url, cli = cli_case.url, cli_case.run
    with open_store_sync(url, settings=cli_case.settings) as store:
        ids = _history(store)
        before = _left(store, ids)
        code, out, err = cli("purge", "--older-than", "90d", "--tasks", "--dry-run", "-d", url)
        assert code == 0, err
        assert "Would delete" in out
        assert "4 finished tasks" in " ".join(out.split())
        cli_case.answer("n\n")
        code, out, _ = cli("purge", "--older-than", "90d", "--tasks", "-d", url)
        assert code == 1
        assert _left(store, ids) == before
        code, out, err = cli("purge", "--older-than", "90d", "--tasks", "--yes", "-d", url)
        assert code == 0, err
        assert "Deleted" in out
        assert "4 finished tasks" in " ".join(out.split())
        assert _left(store, ids) == before - PURGED
        code, out, err = cli(
            "purge", "--older-than", "90d", "--tasks", "--task-batch-size", "0", "-d", url
        )
        assert code == 2
        assert _left(store, ids) == before - PURGED

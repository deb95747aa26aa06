"""Claiming work: leases, heartbeats, expiry, and exactly-once execution under 8 workers."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from concurrency import run_in_threads
from flightlog import Conflict, RunStatus, TaskStatus
from flightlog.db.urls import DatabaseUrl
from flightlog.models import Task, TaskRun
from flightlog.services import tasks as task_service
from flightlog.services._common import utc_now
from flightlog.settings import Settings
from flightlog.store import Store, open_store


async def _expire(store: Store, task_id: uuid.UUID) -> None:
    """Move a lease into the past (what a worker that stopped heart-beating leaves behind)."""
    async with store.transaction() as s:
        await s.execute(
            update(Task)
            .where(Task.id == task_id)
            .values(lease_expires_at=utc_now() - timedelta(seconds=1))
        )


async def test_claim_respects_priority_and_dependencies(store: Store) -> None:
    low = await store.tasks.create(title="low", priority=1)
    high = await store.tasks.create(title="high", priority=9)
    await store.tasks.create(title="blocked", priority=99, depends_on=[low.id])
    first = await store.claims.claim("w1")
    assert [c.task_id for c in first] == [high.id]
    second = await store.claims.claim("w2", limit=5)
    assert [c.task_id for c in second] == [low.id]
    assert await store.claims.claim("w3") == []
    claimed = await store.tasks.get(high.id)
    assert claimed.status is TaskStatus.RUNNING
    assert claimed.claimed_by == "w1"
    assert claimed.lease_expires_at is not None
    assert claimed.lease_expires_at > utc_now()


async def test_heartbeat_complete_and_release(store: Store) -> None:
    a = await store.tasks.create(title="a")
    [claim] = await store.claims.claim("w1", lease_seconds=30)
    assert claim.task_id == a.id
    extended = await store.claims.heartbeat(a.id, "w1", lease_seconds=600)
    assert extended > claim.lease_expires_at
    with pytest.raises(Conflict):
        await store.claims.heartbeat(a.id, "intruder")
    await store.claims.release(claim, reason="shutting down")
    released = await store.tasks.get(a.id)
    assert released.status is TaskStatus.PENDING
    assert released.claimed_by is None
    assert (await store.runs.get(claim.run_id)).status is RunStatus.CANCELLED
    [again] = await store.claims.claim("w2")
    run = await store.claims.complete(again, results={"ok": 1})
    assert run.status is RunStatus.COMPLETED
    assert run.run_number == 2
    done = await store.tasks.get(a.id)
    assert done.status is TaskStatus.COMPLETED
    assert done.claimed_by is None


async def test_expired_lease_makes_the_task_claimable_again(store: Store) -> None:
    task = await store.tasks.create(title="abandoned")
    [old] = await store.claims.claim("crashed-worker")
    assert await store.claims.claim("w2") == []
    await _expire(store, task.id)
    with pytest.raises(Conflict, match="expired"):
        await store.claims.heartbeat(task.id, "crashed-worker")
    [new] = await store.claims.claim("w2")
    assert new.task_id == task.id
    assert (await store.runs.get(old.run_id)).status is RunStatus.TIMEOUT
    with pytest.raises(Conflict):
        await store.claims.complete(old)
    await store.claims.complete(new)
    stats = await store.tasks.get(task.id)
    assert (stats.total_runs, stats.successful_runs, stats.failed_runs) == (2, 1, 1)
    handovers = [
        e for e in (await store.events.list(task_id=task.id)).items if e.entity_type == "TaskLease"
    ]
    assert handovers[0].data is not None
    assert handovers[0].data["from"] == "crashed-worker"


#: Enough for every worker to claim many times over (limit 5: 40 claims), and for a race on
#: one task to show as a duplicate; 500 took 10-14 s per dialect and proved no more.
TASKS = 200
WORKERS = 8


@pytest.fixture
async def queue(
    fresh_head_url: DatabaseUrl, test_settings: Settings
) -> tuple[DatabaseUrl, uuid.UUID]:
    url = fresh_head_url.url.render_as_string(hide_password=False)
    async with open_store(url, settings=test_settings, upgrade=False) as store:
        async with store.transaction() as s:
            for i in range(TASKS):
                await s.run_sync(
                    task_service.create_task, store.customer_id, title=f"job {i}", priority=i % 5
                )
        return fresh_head_url, store.customer_id


def test_eight_workers_run_every_task_exactly_once(
    queue: tuple[DatabaseUrl, uuid.UUID], test_settings: Settings
) -> None:
    url, customer_id = queue

    async def worker(store: Store, index: int) -> list[uuid.UUID]:
        done: list[uuid.UUID] = []
        while True:
            claims = await store.claims.claim(f"worker-{index}", limit=5, lease_seconds=120)
            if not claims:
                return done
            for claim in claims:
                await store.claims.complete(claim, results={"by": index})
                done.append(claim.task_id)

    per_worker = run_in_threads(url, test_settings, customer_id, WORKERS, worker)
    executed = Counter(task_id for batch in per_worker for task_id in batch)
    assert len(executed) == TASKS
    assert set(executed.values()) == {1}
    assert sum(1 for batch in per_worker if batch) > 1  # the work was actually shared

    async def verify(store: Store, _index: int) -> tuple[int, int, int]:
        async with store.reader() as s:
            runs = await s.scalar(select(func.count(TaskRun.id)))
            completed = await s.scalar(
                select(func.count(Task.id)).where(Task.status == TaskStatus.COMPLETED)
            )
            max_runs = await s.scalar(select(func.max(Task.total_runs)))
        return int(runs or 0), int(completed or 0), int(max_runs or 0)

    [(runs, completed, max_runs)] = run_in_threads(url, test_settings, customer_id, 1, verify)
    assert (runs, completed, max_runs) == (TASKS, TASKS, 1)

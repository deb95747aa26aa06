"""Writes PostgreSQL rolls back to break a deadlock: run again by the Store, else typed.

Starting a run updates its task, then writes the run's first event. Back-filled
into a month with no partition yet, that event makes the partition in the
writer's transaction, and attaching it locks ``tasks`` (a foreign key points
there) against the other writers' row locks: concurrent back-fills into one new
month deadlock, and PostgreSQL rolls all but one back. Before the Store ran such
calls again, about three in four of these writers failed with a bare driver
error (an HTTP 500). Partitions exist on PostgreSQL only.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import text

from flightlog import WriteCollision
from flightlog.api import create_app
from flightlog.db.partitions import forget
from flightlog.db.urls import DatabaseUrl
from flightlog.errors import DatabaseUnavailable, http_status
from flightlog.settings import Settings
from flightlog.store import Store, open_store, open_store_sync

pytestmark = pytest.mark.postgres_only

WRITERS = 6


def _url(fresh_head_url: DatabaseUrl) -> str:
    return fresh_head_url.url.render_as_string(hide_password=False)


async def _partitions(store: Store, month: str) -> list[str]:
    async with store.reader() as session:
        rows = await session.execute(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'events'::regclass AND c.relname = :name"
            ),
            {"name": f"events_p{month}"},
        )
        return [str(name) for (name,) in rows]


def test_concurrent_run_starts_back_filled_into_a_new_month_all_succeed(
    fresh_head_url: DatabaseUrl, test_settings: Settings
) -> None:
    """Threads with Stores of their own, released together (the sync Store's path)."""
    url = _url(fresh_head_url)
    forget()
    with open_store_sync(url, settings=test_settings) as setup:
        tasks = [setup.tasks.create(title=f"back-fill {n}").id for n in range(WRITERS)]
        customer_id = setup.customer_id
    start = threading.Barrier(WRITERS)
    failures: list[BaseException] = []
    runs: list[object] = []

    def begin(n: int) -> None:
        try:
            with open_store_sync(url, settings=test_settings, customer_id=customer_id) as store:
                start.wait(timeout=60)
                runs.append(
                    store.runs.start(tasks[n], started_at=datetime(2011, 3, n + 1, tzinfo=UTC))
                )
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=begin, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert len(runs) == WRITERS
    with open_store_sync(url, settings=test_settings, customer_id=customer_id) as store:
        for task_id in tasks:
            (run,) = store.runs.list(task_id=task_id)
            assert run.started_at == datetime(2011, 3, tasks.index(task_id) + 1, tzinfo=UTC)


async def test_concurrent_run_starts_over_http_back_filled_into_a_new_month_all_succeed(
    fresh_head_url: DatabaseUrl, test_settings: Settings
) -> None:
    """The async Store's path, through the HTTP API: every start is a 201, none a 500."""
    forget()
    async with open_store(_url(fresh_head_url), settings=test_settings) as store:
        key = (await store.api_keys.create("back-fill")).key
        tasks = [(await store.tasks.create(title=f"http {n}")).id for n in range(WRITERS)]
        app = create_app(test_settings, engine=store.engine, dashboard=False)
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://flightlog", headers=headers
        ) as client:
            answers = await asyncio.gather(
                *(
                    client.post(
                        f"/api/v1/tasks/{task_id}/runs",
                        json={"started_at": f"2012-07-{n + 1:02d}T12:00:00Z"},
                    )
                    for n, task_id in enumerate(tasks)
                )
            )
        assert [answer.status_code for answer in answers] == [201] * WRITERS, [
            answer.text for answer in answers if answer.status_code != 201
        ]
        assert await _partitions(store, "2012_07") == ["events_p2012_07"]
        for task_id in tasks:
            assert len(await store.runs.list(task_id=task_id)) == 1


async def test_a_deadlock_in_a_callers_transaction_is_a_write_collision_and_writes_nothing(
    fresh_head_url: DatabaseUrl, test_settings: Settings
) -> None:
    """Two transactions that lock two tasks in opposite orders: PostgreSQL rolls one back.
    A ``store.transaction()`` block is the caller's to run again, so the Store raises the
    typed, retryable error instead of a driver error, and the victim's changes are gone."""
    async with open_store(_url(fresh_head_url), settings=test_settings) as store:
        first = (await store.tasks.create(title="first")).id
        second = (await store.tasks.create(title="second")).id
        both_hold_one = asyncio.Barrier(2)
        rename = text("UPDATE tasks SET title = :title WHERE id = :id")

        async def cross(mine: object, theirs: object, title: str) -> str:
            try:
                async with store.transaction() as session:
                    await session.execute(rename, {"title": title, "id": mine})
                    await both_hold_one.wait()
                    await session.execute(rename, {"title": title, "id": theirs})
            except WriteCollision as exc:
                return f"rolled back, {exc.details['outcome']}"
            return "committed"

        outcomes = await asyncio.wait_for(
            asyncio.gather(cross(first, second, "one"), cross(second, first, "two")), 60
        )
        assert sorted(outcomes) == ["committed", "rolled back, not_written"]
        winner = "one" if outcomes[0] == "committed" else "two"
        titles = {(await store.tasks.get(task_id)).title for task_id in (first, second)}
        assert titles == {winner}


def test_a_write_collision_is_a_retryable_503() -> None:
    error = WriteCollision("collided")
    assert isinstance(error, DatabaseUnavailable)
    assert error.code == "write_collision"
    assert http_status(error) == 503

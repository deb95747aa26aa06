"""The paging pool (``flightlog.db.paging_pool``): event pages without a ``SET LOCAL``.

A Store that owns its engine (``open_store``, the API app's own engine) opens,
on PostgreSQL with asyncpg, a second small pool whose connections plan every
prepared statement generically. ``store.events.list`` runs there and sends no
``plan_cache_mode`` statement of its own; every other call stays on the main
pool, whose connections keep PostgreSQL's choice. Pages read the same rows as
on the main pool. SQLite has no such pool and pages as before.
"""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, event, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from cli_runner import url_of
from flightlog.api import create_app
from flightlog.db.engine import GENERIC_PLANS, paging_pool_size
from flightlog.db.paging_pool import (
    close_paging_pool,
    open_paging_pool,
    paging_engine,
    paging_sessions,
)
from flightlog.db.partition_layout import partition_name, slot_of
from flightlog.db.urls import DatabaseUrl
from flightlog.errors import NotFound
from flightlog.models import Event
from flightlog.services.event_paging import event_page
from flightlog.settings import Settings
from flightlog.store import Store, open_store
from test_event_paging import _paged


@contextmanager
def _statements(engine: Engine) -> Iterator[list[str]]:
    """Every statement ``engine`` sends while the block runs."""
    sent: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", note)


def _paging_engine(engine: AsyncEngine) -> AsyncEngine | None:
    return paging_engine(engine)


async def _fill(store: Store) -> tuple[uuid.UUID, list[int]]:
    """A task with 7 events, and its stream's ids (its creation's event first)."""
    task = await store.tasks.create(title="paged")
    added = await store.events.append_batch([{"event_type": "LOG", "task_id": task.id}] * 7)
    async with store.reader() as session:
        stream = select(Event.id).where(Event.task_id == task.id).order_by(Event.id)
        ids = list((await session.scalars(stream)).all())
    assert ids[-7:] == added
    return task.id, ids


async def test_an_owned_store_pages_on_connections_that_plan_generically(
    fresh_head_url: DatabaseUrl, dialect: str, test_settings: Settings
) -> None:
    async with open_store(url_of(fresh_head_url), settings=test_settings) as store:
        task_id, ids = await _fill(store)
        paging = _paging_engine(store.engine)
        if dialect == "sqlite":
            assert paging is None  # one writer, no plans to cache: nothing to page apart
            assert await _paged(store, task_id) == ids
            return
        assert paging is not None
        with (
            _statements(store.engine.sync_engine) as main,
            _statements(paging.sync_engine) as paged,
        ):
            assert await _paged(store, task_id) == ids
            customer_page = await store.events.list(limit=100)
        assert [e.id for e in customer_page.items] == ids
        # The pages ran on the paging pool, and asked for no plan mode of their own.
        assert len(paged) == -(-len(ids) // 2) + 1, paged  # pages of 2, and the customer's
        assert all("FROM events" in sql for sql in paged), paged
        assert not [sql for sql in main if "FROM events" in sql], main
        assert not [sql for sql in main + paged if "plan_cache_mode" in sql]
        # A paging connection plans the page generically, and nothing asks it to; the
        # main pool's connections keep PostgreSQL's own choice for everything else.
        async with paging_sessions(store.engine)() as session:  # type: ignore[misc]
            assert await session.scalar(text("SHOW plan_cache_mode")) == "force_generic_plan"
            for _ in range(3):
                await session.run_sync(event_page, store.customer_id, task_id=task_id)
            plans = (
                await session.execute(
                    text(
                        "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                        "WHERE statement LIKE '%FROM events%' "
                        "AND statement NOT LIKE '%pg_prepared_statements%'"
                    )
                )
            ).all()
        assert plans
        assert all(custom == 0 for _, custom in plans), plans
        assert max(generic for generic, _ in plans) >= 3, plans
        async with store.reader() as session:
            assert await session.scalar(text("SHOW plan_cache_mode")) == "auto"
            main_options = (await session.connection()).sync_connection.get_execution_options()  # type: ignore[union-attr]
            assert not main_options.get(GENERIC_PLANS)
            # The same page read on the main pool (with its SET LOCAL): the same rows.
            main_page = await session.run_sync(event_page, store.customer_id, task_id=task_id)
        assert [e.id for e in main_page.items] == ids
    assert paging_sessions(store.engine) is None, "closed with the Store's engine"


async def test_a_page_of_another_tenants_task_is_not_found_on_the_paging_pool(
    fresh_head_url: DatabaseUrl, dialect: str, test_settings: Settings
) -> None:
    """The empty page's ownership check runs on the paging pool too: another customer's
    task reads as one that does not exist, as on the main pool."""
    async with open_store(url_of(fresh_head_url), settings=test_settings) as store:
        task_id, _ = await _fill(store)
        other = await store.customers.create(name="other", email="other@paging.test")
        stranger = Store(store.engine, store.settings, other.id)
        answers = []
        paging = _paging_engine(store.engine)
        assert (paging is not None) is (dialect == "postgresql")
        with _statements((paging or store.engine).sync_engine) as sent:
            for missing in (task_id, uuid.uuid4()):
                with pytest.raises(NotFound) as refused:
                    await stranger.events.list(task_id=missing)
                answers.append(str(refused.value).replace(str(missing), "<id>"))
        assert answers[0] == answers[1]  # the same words as for a task that never existed
        if paging is not None:  # both pages, and their ownership checks, ran there
            assert len([sql for sql in sent if "FROM events" in sql]) == 2, sent


async def test_the_apps_own_engine_pages_on_its_paging_pool_until_it_stops(
    fresh_head_url: DatabaseUrl, dialect: str, test_settings: Settings
) -> None:
    settings = test_settings.model_copy(update={"database_url": url_of(fresh_head_url)})
    async with open_store(url_of(fresh_head_url), settings=test_settings) as store:
        task_id, ids = await _fill(store)
        key = (await store.api_keys.create("pages")).key
    app = create_app(settings, dashboard=False)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app):
        engine = app.state.flightlog.engine
        paging = _paging_engine(engine)
        assert (paging is not None) is (dialect == "postgresql")
        with _statements((paging or engine).sync_engine) as sent:
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
                answer = await client.get(
                    "/api/v1/events",
                    params={"task_id": str(task_id), "limit": 3},
                    headers={"Authorization": f"Bearer {key}"},
                )
        assert answer.status_code == 200, answer.text
        assert [e["id"] for e in answer.json()["items"]] == ids[:3]
        if paging is not None:
            assert [sql for sql in sent if "FROM events" in sql], "the page ran on the paging pool"
    assert _paging_engine(engine) is None
    if paging is not None:
        assert paging.sync_engine.pool.checkedin() == 0, "its connections are closed"


@pytest.mark.postgres_only
async def test_a_small_tasks_page_on_the_paging_pool_reads_only_its_rows(
    fresh_head_url: DatabaseUrl, dialect: str, test_settings: Settings
) -> None:
    """Under the paging pool's generic plans, a quiet task's page next to a month of a busy
    task's events reads its own few rows, not the month (the statement's form, see
    ``services.event_paging``), as on the main pool."""
    month = datetime(2033, 7, 3, 12, tzinfo=UTC)
    partition = partition_name("events", slot_of(month))
    async with open_store(url_of(fresh_head_url), settings=test_settings) as store:
        busy = await store.tasks.create(title="busy")
        quiet = await store.tasks.create(title="quiet")
        await store.events.append_batch(
            [{"event_type": "LOG", "task_id": busy.id, "created_at": month}] * 20_000
        )
        mine = await store.events.append_batch(
            [{"event_type": "LOG", "task_id": quiet.id, "created_at": month}] * 3
        )
        async with store.transaction() as s:
            # Statistics that see only the busy stream, as a big month's sample does.
            await s.execute(text("SET LOCAL default_statistics_target = 1"))
            await s.execute(text(f"ANALYZE {partition}"))
        for _ in range(8):  # past PostgreSQL's five custom plans, were it choosing
            page = await store.events.list(task_id=quiet.id)
            assert [e.id for e in page.items][-3:] == mine
        read = text(
            "SELECT coalesce(sum(coalesce(idx_tup_fetch, 0) + coalesce(seq_tup_read, 0)), 0) "
            "FROM pg_stat_xact_user_tables WHERE relname = :name"
        )
        async with paging_sessions(store.engine)() as session:  # type: ignore[misc]
            before = await session.scalar(read, {"name": partition})
            again = await session.run_sync(event_page, store.customer_id, task_id=quiet.id)
            after = await session.scalar(read, {"name": partition})
            assert await session.scalar(text("SHOW plan_cache_mode")) == "force_generic_plan"
        assert [e.id for e in again.items][-3:] == mine
        assert after - before <= 10, after - before


@pytest.mark.postgres_only
async def test_pages_go_to_the_main_pool_when_the_paging_pool_is_full(
    fresh_head_url: DatabaseUrl, dialect: str, test_settings: Settings
) -> None:
    """A burst of pages bigger than the paging pool does not wait for it (nor time out
    with a 503 while the main pool has room): the pages past it run on the main pool."""
    async with open_store(url_of(fresh_head_url), settings=test_settings) as store:
        task_id, ids = await _fill(store)
        paging = _paging_engine(store.engine)
        assert paging is not None
        size, overflow = paging_pool_size(test_settings)
        held = [await paging.connect() for _ in range(size + overflow)]
        try:
            with (
                _statements(store.engine.sync_engine) as main,
                _statements(paging.sync_engine) as paged,
            ):
                page = await store.events.list(task_id=task_id, limit=100)
            assert [e.id for e in page.items] == ids
            assert [sql for sql in main if "FROM events" in sql]
            assert not paged
        finally:
            for connection in held:
                await connection.close()
        with _statements(paging.sync_engine) as paged:
            await store.events.list(task_id=task_id)
        assert [sql for sql in paged if "FROM events" in sql], "back once it has room"


@pytest.mark.postgres_only
async def test_a_paging_pool_that_cannot_connect_leaves_pages_to_the_main_pool(
    fresh_head_url: DatabaseUrl,
    dialect: str,
    test_settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """As when a pooler refuses the paging pool's startup parameter: the page is answered
    from the main pool, the operator is told once, and pages stay there for a while."""
    async with open_store(url_of(fresh_head_url), settings=test_settings) as store:
        task_id, ids = await _fill(store)
        await close_paging_pool(store.engine)
        with socket.socket() as probe:  # a port nothing listens on
            probe.bind(("127.0.0.1", 0))
            dead_port = probe.getsockname()[1]
        nowhere = DatabaseUrl.parse(fresh_head_url.url.set(port=dead_port))
        open_paging_pool(store.engine, test_settings, nowhere)
        with caplog.at_level(logging.WARNING, logger="flightlog.db.paging_pool"):
            for _ in range(3):
                page = await store.events.list(task_id=task_id, limit=100)
                assert [e.id for e in page.items] == ids
        warnings = [r.getMessage() for r in caplog.records if r.name == "flightlog.db.paging_pool"]
        assert len(warnings) == 1, warnings  # the next pages did not try it again
        assert "use the main connection pool" in warnings[0]
        assert paging_sessions(store.engine) is None  # resting

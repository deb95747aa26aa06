"""Keyset pages of events over monthly partitions (decision 0016, ``services.event_paging``).

On PostgreSQL a page is planned once per connection (PostgreSQL's generic plan)
instead of over every partition on every call, and its statement leads with the
stream's own column so that one plan is right for every task: a small task's page
next to a month of another task's events reads only its own rows. Pages read the
same rows in the same order on both dialects, across months, both ways.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from flightlog.db.partition_layout import partition_name, slot_of
from flightlog.models import Event
from flightlog.services.event_paging import event_page, list_events
from flightlog.store import Store

#: A month no other test file writes (each test's rows are rolled back).
MONTH = datetime(2033, 7, 1, tzinfo=UTC)
#: Enough of one task's rows in that month for a wrong plan to show (every row read).
BIG_TASK_ROWS = 20_000


def _at(month: int, day: int) -> datetime:
    return datetime(2033, month, day, 12, tzinfo=UTC)


async def _stored(store: Store, column: str, value: uuid.UUID) -> list[int]:
    """The ids of a stream as the database orders them (what pages must add up to)."""
    stmt = select(Event.id).where(getattr(Event, column) == value).order_by(Event.id)
    async with store.reader() as s:
        return list((await s.scalars(stmt)).all())


async def _paged(store: Store, task_id: uuid.UUID) -> list[int]:
    """Every event id of the task, by the Store's own pages of 2 (forward)."""
    ids: list[int] = []
    after = 0
    while True:
        page = await store.events.list(task_id=task_id, after_id=after, limit=2)
        ids += [event.id for event in page.items]
        if page.next_after_id is None:
            return ids
        after = page.next_after_id


async def test_pages_read_each_stream_in_id_order_across_months_both_ways(
    store: Store, dialect: str
) -> None:
    first = await store.tasks.create(title="first")
    second = await store.tasks.create(title="second")
    run = await store.runs.start(first.id)
    # Interleaved over three months, and written out of time order: ids follow the
    # writes, partitions follow the times.
    rows: list[dict[str, Any]] = []
    for i, month in enumerate((9, 7, 8, 7, 9, 8, 7)):
        rows.append({"event_type": "LOG", "task_id": first.id, "created_at": _at(month, 1 + i)})
        rows.append({"event_type": "LOG", "task_id": second.id, "created_at": _at(month, 2 + i)})
    rows.append(
        {"event_type": "LOG", "task_id": first.id, "run_id": run.id, "created_at": _at(8, 20)}
    )
    written = [
        *await store.events.append_batch(rows[:8]),
        *await store.events.append_batch(rows[8:]),
    ]
    first_ids = [i for i, row in zip(written, rows, strict=True) if row["task_id"] == first.id]
    second_ids = [i for i, row in zip(written, rows, strict=True) if row["task_id"] == second.id]

    assert await _paged(store, first.id) == await _stored(store, "task_id", first.id)
    assert await _paged(store, second.id) == await _stored(store, "task_id", second.id)
    in_run = await store.events.list(run_id=run.id, task_id=first.id)
    assert [event.id for event in in_run.items] == await _stored(store, "run_id", run.id)
    assert written[-1] in [event.id for event in in_run.items]
    # Read back from the end: the pages before a cursor, still in id order.
    back = await store.events.list(task_id=first.id, before_id=first_ids[-1], limit=3)
    assert [event.id for event in back.items] == first_ids[-4:-1]
    assert back.next_after_id == first_ids[-2]
    assert back.previous_before_id == first_ids[-4]
    # A live feed's watermark stops the page.
    capped = await store.events.list(task_id=second.id, up_to_id=second_ids[2])
    stored = await _stored(store, "task_id", second.id)
    assert [event.id for event in capped.items] == [i for i in stored if i <= second_ids[2]]
    # And the customer's whole stream, which no column leads.
    everything = await store.events.list(after_id=written[0] - 1, limit=1000)
    assert [event.id for event in everything.items][: len(written)] == written


def _month_rows_read(session: Session) -> int:
    """Rows this transaction has read from the test month's partition, by any scan."""
    sql = text(
        "SELECT coalesce(sum(coalesce(idx_tup_fetch, 0) + coalesce(seq_tup_read, 0)), 0) "
        "FROM pg_stat_xact_user_tables WHERE relname = :name"
    )
    name = partition_name("events", slot_of(MONTH))
    return int(session.execute(sql, {"name": name}).scalar_one())


async def _analyze_as_a_big_month(store: Store) -> None:
    """Statistics of the test month that see only its busy stream, as ANALYZE's sample of a
    big month does when a quiet stream's rows are too few to be drawn. In a write unit:
    a reader's savepoint would roll ANALYZE back."""
    async with store.transaction() as s:
        await s.execute(text("SET LOCAL default_statistics_target = 1"))
        await s.execute(text(f"ANALYZE {partition_name('events', slot_of(MONTH))}"))
        await s.execute(text("SET LOCAL default_statistics_target = DEFAULT"))


async def _month_rows_read_by(store: Store, page: Callable[[], Awaitable[Any]]) -> int:
    """Rows of the test month one more call of ``page`` reads (same connection)."""
    async with store.reader() as s:
        before = await s.run_sync(_month_rows_read)
    await page()
    async with store.reader() as s:
        return await s.run_sync(_month_rows_read) - before


@pytest.mark.postgres_only
async def test_a_small_tasks_page_next_to_a_month_of_another_task_reads_only_its_rows(
    store: Store, dialect: str
) -> None:
    big = await store.tasks.create(title="busy")
    small = await store.tasks.create(title="quiet")
    at = MONTH.replace(day=3)
    await store.events.append_batch(
        [{"event_type": "LOG", "task_id": big.id, "created_at": at}] * BIG_TASK_ROWS
    )
    mine = await store.events.append_batch(
        [{"event_type": "LOG", "task_id": small.id, "created_at": at}] * 3
    )
    await _analyze_as_a_big_month(store)
    expected = await _stored(store, "task_id", small.id)
    assert expected[-3:] == mine
    # Past PostgreSQL's five custom plans, when it may settle on a generic one.
    for _ in range(8):
        page = await store.events.list(task_id=small.id)
        assert [event.id for event in page.items] == expected
    read = await _month_rows_read_by(store, lambda: store.events.list(task_id=small.id))
    # Its three rows (and a probe or two), not the busy task's month.
    assert read <= 10, read


def _page_plans(session: Session) -> list[tuple[int, int]]:
    """(generic, custom) plans of this connection's prepared page statements."""
    sql = text(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
        "WHERE statement ~ 'FROM events\\s+WHERE events\\.id > \\$' "
        "AND statement NOT LIKE '%pg_prepared_statements%'"
    )
    return [(int(row[0]), int(row[1])) for row in session.execute(sql)]


@pytest.mark.postgres_only
async def test_a_page_is_planned_once_per_connection_not_on_every_call(
    store: Store, dialect: str
) -> None:
    task = await store.tasks.create(title="planned")
    await store.events.append_batch([{"event_type": "LOG", "task_id": task.id}] * 5)
    for _ in range(7):
        await store.events.list(task_id=task.id, limit=2)
        await store.events.list(limit=2)  # the customer's whole stream
    async with store.reader() as s:
        plans = await s.run_sync(_page_plans)
    assert len(plans) == 2, "asyncpg prepares every statement: both pages' must be there"
    assert all(custom == 0 for _, custom in plans), plans
    assert all(generic >= 7 for generic, _ in plans), plans


@pytest.mark.postgres_only
async def test_a_small_customers_whole_stream_reads_only_its_rows(
    store: Store, other: Store, dialect: str
) -> None:
    """The customer's whole stream is led by ``(customer_id, id)`` (migration 0011), so its
    one plan is right for a small tenant too: its page next to a month of another
    tenant's events reads its own rows, not the month."""
    busy = await other.tasks.create(title="busy")
    at = MONTH.replace(day=3)
    await other.events.append_batch(
        [{"event_type": "LOG", "task_id": busy.id, "created_at": at}] * BIG_TASK_ROWS
    )
    quiet = await store.tasks.create(title="quiet")
    await store.events.append_batch(
        [{"event_type": "LOG", "task_id": quiet.id, "created_at": at}] * 3
    )
    await _analyze_as_a_big_month(store)
    for _ in range(8):
        page = await store.events.list()
    read = await _month_rows_read_by(store, store.events.list)
    assert len(page.items) == 4  # the task's creation and its three events
    assert read <= 10, read


@pytest.mark.postgres_only
@pytest.mark.parametrize("callers", ["force_custom_plan", "auto"])
async def test_a_page_in_a_callers_transaction_leaves_its_planning_as_the_caller_set_it(
    store: Store, dialect: str, callers: str
) -> None:
    """Services run in a caller's own transaction too (an embedder's, or several calls
    in one ``store.transaction()``): what a page sets for its statements is put back
    to the caller's own setting, not to the server's default."""
    task = await store.tasks.create(title="embedded")
    await store.events.append({"event_type": "LOG", "task_id": task.id})
    async with store.transaction() as s:
        await s.execute(text(f"SET LOCAL plan_cache_mode = {callers}"))
        page = await s.run_sync(event_page, store.customer_id, task_id=task.id)
        back = await s.run_sync(list_events, store.customer_id, task_id=task.id, before_id=2**62)
        mode = await s.scalar(text("SHOW plan_cache_mode"))
    assert page.items
    assert back.items
    assert mode == callers

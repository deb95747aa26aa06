"""A task's or run's page of events is planned once per connection on PostgreSQL.

``events`` is partitioned by month there and ids cannot prune the months, so a custom plan
for each page weighs every index of every month (decision 0016; benchmark ``partitions``).
The page asks for PostgreSQL's generic plan instead, inside its own read transaction only;
the customer's whole stream keeps custom plans, since its best plan depends on the tenant.
Read from ``pg_prepared_statements`` on the connection the Store runs on.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from flightlog.models import Event
from flightlog.services import events as event_service
from flightlog.store import Store

pytestmark = pytest.mark.postgres_only

PAGES = 3


async def _plans(store: Store, scope: str) -> list[tuple[int, int]]:
    """(generic, custom) plans of the prepared page statements whose only filters are the id
    cursor, the customer and ``scope``."""
    assert store.connection is not None
    rows = await store.connection.execute(
        text("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")
    )
    others = {"events.task_id = ", "events.run_id = ", "events.event_type IN"} - {scope}
    return [
        (int(generic), int(custom))
        for statement, generic, custom in rows
        if "FROM events" in statement
        and "ORDER BY events.id" in statement
        and scope in statement
        and not any(other in statement for other in others)
    ]


async def test_a_task_or_run_page_is_planned_once_and_the_customer_stream_per_value(
    dialect: str, store: Store
) -> None:
    task = await store.tasks.create(title="planned once")
    run = await store.runs.start(task.id)
    await store.events.append_batch(
        [{"event_type": "LOG", "task_id": task.id, "run_id": run.id} for _ in range(3)]
    )
    logs = {e.id for e in (await store.events.list(event_types=["LOG"])).items}
    assert len(logs) == 3
    for _ in range(PAGES):
        assert logs <= {e.id for e in (await store.events.list(task_id=task.id)).items}
        assert logs <= {e.id for e in (await store.events.list(run_id=run.id)).items}
        assert logs <= {e.id for e in (await store.events.list()).items}
    assert await _plans(store, "events.task_id = ") == [(PAGES, 0)]
    assert await _plans(store, "events.run_id = ") == [(PAGES, 0)]
    customer_only = [
        plans for plans in await _plans(store, "events.customer_id = ") if plans not in [(PAGES, 0)]
    ]
    assert customer_only == [(0, PAGES)]
    assert store.connection is not None
    # The setting ended with each page's transaction.
    mode = await store.connection.scalar(text("SHOW plan_cache_mode"))
    assert mode == "auto"


async def test_a_page_inside_a_callers_own_transaction_leaves_its_settings_alone(
    dialect: str, store: Store
) -> None:
    task = await store.tasks.create(title="the caller's transaction")
    await store.events.append({"event_type": "LOG", "task_id": task.id})
    async with store.transaction() as session:
        page = await session.run_sync(event_service.list_events, store.customer_id, task_id=task.id)
        assert page.items
        assert {event.task_id for event in page.items} == {task.id}
        assert await session.scalar(text("SHOW plan_cache_mode")) == "auto"
        assert await session.scalar(select(Event.id).where(Event.task_id == task.id)) is not None

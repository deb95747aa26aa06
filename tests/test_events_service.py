"""The event log through ``store.events``: append, atomic batches, limits, keyset pages, scope."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from typing import Any

import pytest

from flightlog import EventSeverity, EventType, NewEvent, NotFound, Store, ValidationError
from flightlog.models import Customer, Task
from flightlog.services import events as event_service
from flightlog.settings import Settings


async def _sibling_store(
    store: Store, *, settings: Settings | None = None, new_customer: bool = False
) -> Store:
    """Another Store on the fixture's connection (so inside its rolled-back transaction)."""
    async with store.transaction() as s:
        connection = await s.connection()
        customer_id = store.customer_id
        if new_customer:
            customer = Customer(name="Other", email=f"{uuid.uuid4().hex}@test.local")
            s.add(customer)
            await s.flush()
            customer_id = customer.id
    return Store(store.engine, settings or store.settings, customer_id, connection=connection)


async def _task(store: Store, title: str = "events") -> Task:
    return await store.tasks.create(title=title)


async def _all_ids(store: Store, task_id: uuid.UUID) -> list[int]:
    page = await store.events.list(task_id=task_id, limit=1000)
    assert page.next_after_id is None
    return [event.id for event in page.items]


async def test_append_returns_id_and_aware_utc_created_at(store: Store) -> None:
    task = await _task(store)
    event = await store.events.append(
        {"event_type": "log", "content": "hello", "task_id": task.id, "data": {"k": 1}}
    )
    assert isinstance(event.id, int)
    assert event.id > 0
    assert event.created_at.tzinfo is not None
    assert event.created_at.utcoffset() == timedelta(0)
    assert event.event_type is EventType.LOG
    assert event.customer_id == store.customer_id

    page = await store.events.list(task_id=task.id, event_types=[EventType.LOG])
    assert [(e.id, e.content, e.data) for e in page.items] == [(event.id, "hello", {"k": 1})]


async def test_a_given_created_at_is_kept_on_every_write_path(store: Store) -> None:
    task = await _task(store)
    then = datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5)))
    one = await store.events.append({"event_type": "LOG", "task_id": task.id, "created_at": then})
    batch = await store.events.append_batch(
        [{"event_type": "LOG", "task_id": task.id, "created_at": then}, {"event_type": "LOG"}]
    )
    mine = store.customer_id
    async with store.transaction() as s:
        mixed = await s.run_sync(
            event_service.append_batch,
            [
                NewEvent(event_type="LOG", task_id=task.id, customer_id=mine, created_at=then),
                NewEvent(event_type="LOG", task_id=task.id, customer_id=mine),
            ],
        )
    page = await store.events.list(task_id=task.id)
    times = {event.id: event.created_at for event in page.items}
    utc = datetime(2024, 3, 1, 4, 59, 59, 999999, tzinfo=UTC)
    assert one.created_at == times[one.id] == utc
    assert times[batch[0]] == times[mixed[0]] == utc
    assert times[mixed[1]] > utc + timedelta(days=365)


async def test_a_naive_created_at_is_refused_and_nothing_is_written(store: Store) -> None:
    task = await _task(store)
    naive = datetime(2024, 1, 1)
    before = await _all_ids(store, task.id)
    with pytest.raises(ValidationError, match="timezone-aware"):
        await store.events.append({"event_type": "LOG", "task_id": task.id, "created_at": naive})
    with pytest.raises(ValidationError, match=r"#1.*timezone-aware"):
        await store.events.append_batch(
            [
                {"event_type": "LOG", "task_id": task.id},
                {"event_type": "LOG", "task_id": task.id, "created_at": naive},
            ]
        )
    assert await _all_ids(store, task.id) == before


async def test_append_accepts_a_new_event_model(store: Store) -> None:
    task = await _task(store)
    event = await store.events.append(
        NewEvent(event_type=EventType.RESULT, content="done", task_id=task.id)
    )
    assert event.event_type is EventType.RESULT
    assert event.id in await _all_ids(store, task.id)


async def test_append_batch_returns_ids_in_input_order(store: Store) -> None:
    task = await _task(store)
    batch = [{"event_type": "message", "content": f"m{i}", "task_id": task.id} for i in range(10)]
    ids = await store.events.append_batch(batch)
    assert len(ids) == 10
    assert all(isinstance(i, int) for i in ids)
    assert all(a < b for a, b in pairwise(ids))

    page = await store.events.list(task_id=task.id, event_types=[EventType.MESSAGE])
    by_id = {event.id: event.content for event in page.items}
    assert [by_id[i] for i in ids] == [f"m{i}" for i in range(10)]


async def test_append_batch_of_nothing_writes_nothing(store: Store) -> None:
    task = await _task(store)
    before = await _all_ids(store, task.id)
    assert await store.events.append_batch([]) == []
    assert await _all_ids(store, task.id) == before


@pytest.mark.parametrize(
    ("bad", "mentions"),
    [
        ({"event_type": "NOT_A_TYPE"}, "event_type"),
        ({"event_type": "LOG", "colour": "blue"}, "colour"),
        ({"event_type": "LOG", "severity": "LOUD"}, "severity"),
        ({"event_type": "LOG", "agent_role": "r" * 101}, "agent_role"),
    ],
)
async def test_bad_item_rejects_the_whole_batch_and_names_its_index(
    store: Store, bad: dict[str, Any], mentions: str
) -> None:
    task = await _task(store)
    before = await _all_ids(store, task.id)
    batch: list[dict[str, Any]] = [
        {"event_type": "LOG", "content": f"ok {i}", "task_id": task.id} for i in range(5)
    ]
    batch[3] = {**bad, "task_id": task.id}

    with pytest.raises(ValidationError) as caught:
        await store.events.append_batch(batch)

    assert "#3" in str(caught.value)
    assert mentions in str(caught.value)
    assert caught.value.details["index"] == 3
    assert await _all_ids(store, task.id) == before


async def test_single_bad_event_raises_without_index(store: Store) -> None:
    task = await _task(store)
    before = await _all_ids(store, task.id)
    with pytest.raises(ValidationError) as caught:
        await store.events.append({"event_type": "bogus", "task_id": task.id})
    assert caught.value.details["index"] is None
    assert await _all_ids(store, task.id) == before


async def test_payload_limit_from_settings_rejects_and_writes_nothing(store: Store) -> None:
    small = await _sibling_store(
        store, settings=store.settings.model_copy(update={"max_event_payload_bytes": 2048})
    )
    task = await _task(small)
    before = await _all_ids(small, task.id)
    big = "x" * 3000

    with pytest.raises(ValidationError) as caught:
        await small.events.append({"event_type": "LOG", "content": big, "task_id": task.id})
    assert "2,048" in str(caught.value)
    assert caught.value.details["limit"] == 2048
    assert caught.value.details["size"] == 3000

    # data counts too, and one oversized item rejects its whole batch.
    batch = [
        {"event_type": "LOG", "content": "fine", "task_id": task.id},
        {"event_type": "LOG", "data": {"blob": big}, "task_id": task.id},
    ]
    with pytest.raises(ValidationError) as caught:
        await small.events.append_batch(batch)
    assert "#1" in str(caught.value)
    assert caught.value.details["index"] == 1
    assert caught.value.details["limit"] == 2048
    assert await _all_ids(small, task.id) == before

    # Under the limit is fine, and the default store's (larger) limit accepts the big one.
    await small.events.append({"event_type": "LOG", "content": "x" * 2048, "task_id": task.id})
    await store.events.append({"event_type": "LOG", "content": big, "task_id": task.id})
    assert len(await _all_ids(small, task.id)) == len(before) + 2


async def test_keyset_pages_return_every_event_once_in_order(store: Store) -> None:
    task = await _task(store)
    existing = await _all_ids(store, task.id)
    mine = await store.events.append_batch(
        [{"event_type": "LOG", "content": str(i), "task_id": task.id} for i in range(250)]
    )
    expected = sorted(existing + mine)
    assert len(expected) >= 250

    seen: list[int] = []
    cursors: list[int | None] = []
    after = 0
    while True:
        page = await store.events.list(task_id=task.id, after_id=after, limit=100)
        assert 1 <= len(page.items) <= 100
        seen.extend(event.id for event in page.items)
        cursors.append(page.next_after_id)
        if page.next_after_id is None:
            break
        assert page.next_after_id == page.items[-1].id
        after = page.next_after_id

    assert seen == expected
    assert len(seen) == len(set(seen))
    assert all(a < b for a, b in pairwise(seen))
    assert len(cursors) == -(-len(expected) // 100)
    assert cursors[-1] is None
    assert all(cursor is not None for cursor in cursors[:-1])


async def test_an_exactly_full_last_page_has_no_next_cursor(store: Store) -> None:
    task = await _task(store)
    existing = await _all_ids(store, task.id)
    await store.events.append_batch(
        [{"event_type": "LOG", "task_id": task.id} for _ in range(10 - len(existing))]
    )
    page = await store.events.list(task_id=task.id, limit=10)
    assert len(page.items) == 10
    assert page.next_after_id is None


async def test_filters_by_type_severity_and_agent_role(store: Store) -> None:
    task = await _task(store)
    ids = await store.events.append_batch(
        [
            {"event_type": "LOG", "severity": "INFO", "agent_role": "engineer", "task_id": task.id},
            {"event_type": "ERROR", "severity": "ERROR", "agent_role": "qa", "task_id": task.id},
            {"event_type": "LOG", "severity": "WARNING", "agent_role": "qa", "task_id": task.id},
            {"event_type": "RESULT", "severity": "CRITICAL", "task_id": task.id},
            {"event_type": "MESSAGE", "agent_role": "engineer", "task_id": task.id},
        ]
    )
    log, error, warn, result, message = ids

    async def read(**filters: Any) -> list[int]:
        page = await store.events.list(task_id=task.id, **filters)
        return [event.id for event in page.items]

    assert await read(event_types=[EventType.LOG]) == [log, warn]
    assert await read(event_types=[EventType.ERROR, EventType.RESULT]) == [error, result]
    assert await read(severities=[EventSeverity.ERROR, EventSeverity.CRITICAL]) == [
        error,
        result,
    ]
    assert await read(severities=[EventSeverity.WARNING]) == [warn]
    assert await read(agent_role="engineer") == [log, message]
    assert await read(agent_role="qa", event_types=[EventType.LOG]) == [warn]
    assert await read(agent_role="nobody") == []


async def test_filters_accept_any_enum_spelling(store: Store) -> None:
    task = await _task(store)
    event = await store.events.append(
        {"event_type": "error", "severity": "warning", "task_id": task.id}
    )
    page = await store.events.list(task_id=task.id, event_types=["error"], severities=["Warning"])
    assert [e.id for e in page.items] == [event.id]


@pytest.mark.parametrize(
    ("filters", "mentions"),
    [({"event_types": ["NOT_A_TYPE"]}, "event type"), ({"severities": ["LOUD"]}, "severity")],
)
async def test_unknown_filter_values_are_rejected(
    store: Store, filters: dict[str, Any], mentions: str
) -> None:
    task = await _task(store)
    with pytest.raises(ValidationError, match=mentions):
        await store.events.list(task_id=task.id, **filters)


async def test_filter_by_run_id(store: Store) -> None:
    task = await _task(store)
    first = await store.runs.start(task.id)
    in_first = await store.events.append_batch(
        [{"event_type": "LOG", "task_id": task.id, "run_id": first.id} for _ in range(3)]
    )
    outside = await store.events.append({"event_type": "LOG", "task_id": task.id})
    await store.runs.finish(first.id)
    second = await store.runs.start(task.id)
    in_second = await store.events.append(
        {"event_type": "LOG", "task_id": task.id, "run_id": second.id}
    )

    page = await store.events.list(run_id=first.id)
    assert page.items
    assert all(event.run_id == first.id for event in page.items)
    got = [event.id for event in page.items]
    assert set(in_first) <= set(got)
    assert outside.id not in got
    assert in_second.id not in got

    logs = await store.events.list(run_id=first.id, event_types=[EventType.LOG])
    assert [event.id for event in logs.items] == in_first
    on_second = await store.events.list(
        task_id=task.id, run_id=second.id, event_types=[EventType.LOG]
    )
    assert [event.id for event in on_second.items] == [in_second.id]


async def test_another_customers_task_is_not_found(store: Store) -> None:
    other = await _sibling_store(store, new_customer=True)
    assert other.customer_id != store.customer_id
    theirs = await other.tasks.create(title="theirs")
    their_event = await other.events.append({"event_type": "LOG", "task_id": theirs.id})

    with pytest.raises(NotFound):
        await store.events.list(task_id=theirs.id)
    with pytest.raises(NotFound):
        await store.events.append({"event_type": "LOG", "task_id": theirs.id})
    with pytest.raises(NotFound):
        await store.events.append_batch([{"event_type": "LOG", "task_id": theirs.id}])

    # Reading by customer shows each tenant only its own events.
    mine = await store.events.list()
    assert their_event.id not in [event.id for event in mine.items]
    assert all(event.customer_id == store.customer_id for event in mine.items)
    page = await other.events.list(task_id=theirs.id)
    assert their_event.id in [event.id for event in page.items]


@pytest.mark.parametrize("limit", [0, -1, 1001])
async def test_limit_out_of_range_is_rejected(store: Store, limit: int) -> None:
    task = await _task(store)
    with pytest.raises(ValidationError, match="limit"):
        await store.events.list(task_id=task.id, limit=limit)


async def test_limits_at_the_bounds_are_accepted(store: Store) -> None:
    task = await _task(store)
    await store.events.append_batch([{"event_type": "LOG", "task_id": task.id}] * 3)
    assert len((await store.events.list(task_id=task.id, limit=1)).items) == 1
    assert len((await store.events.list(task_id=task.id, limit=1000)).items) >= 3

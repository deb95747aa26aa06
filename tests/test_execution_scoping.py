"""Events and metrics stay inside the Store's customer, and bad references fail cleanly."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from flightlog import NotFound, ValidationError
from flightlog.store import Store


async def test_metrics_of_another_customers_task_cannot_be_read_or_written(
    store: Store, other: Store
) -> None:
    theirs = await other.tasks.create(title="theirs")
    their_run = await other.runs.start(theirs.id)
    await other.metrics.record({"name": "cpu", "value": 1.0, "task_id": theirs.id})
    with pytest.raises(NotFound):
        await store.metrics.series("cpu", task_id=theirs.id)
    with pytest.raises(NotFound):
        await store.metrics.summarize(run_id=their_run.id)
    with pytest.raises(NotFound):
        await store.metrics.buckets("cpu", task_id=theirs.id, bucket_seconds=60)
    with pytest.raises(NotFound):
        await store.metrics.record({"name": "cpu", "value": 2.0, "task_id": theirs.id})
    with pytest.raises(NotFound):
        await store.metrics.record_batch([{"name": "cpu", "value": 2.0, "run_id": their_run.id}])
    assert [p.value for p in await other.metrics.series("cpu", task_id=theirs.id)] == [1.0]


async def test_metric_points_must_belong_to_a_task_or_run(store: Store) -> None:
    with pytest.raises(ValidationError, match="#0"):
        await store.metrics.record_batch([{"name": "orphan", "value": 1.0}])


async def test_events_cannot_point_at_another_customers_run(store: Store, other: Store) -> None:
    theirs = await other.tasks.create(title="theirs")
    their_run = await other.runs.start(theirs.id)
    with pytest.raises(NotFound):
        await store.events.append({"event_type": "LOG", "run_id": their_run.id})
    with pytest.raises(NotFound):
        await store.events.list(run_id=their_run.id)
    mine = await store.tasks.create(title="mine")
    with pytest.raises(NotFound):
        await store.events.append_batch(
            [
                {"event_type": "LOG", "task_id": mine.id},
                {"event_type": "LOG", "task_id": mine.id, "run_id": their_run.id},
            ]
        )
    assert [e.content for e in (await store.events.list(task_id=mine.id)).items] == [
        "Task new -> PENDING"
    ]


async def test_malformed_ids_are_validation_errors_naming_the_row(store: Store) -> None:
    task = await store.tasks.create(title="t")
    with pytest.raises(ValidationError, match="#1"):
        await store.events.append_batch(
            [{"event_type": "LOG", "task_id": task.id}, {"event_type": "LOG", "task_id": "nope"}]
        )


async def test_buckets_floor_the_same_way_on_both_dialects(store: Store) -> None:
    task = await store.tasks.create(title="edges")
    times = [
        datetime(2030, 1, 1, 0, 0, 59, 999_900, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 30, tzinfo=UTC),
    ]
    await store.metrics.record_batch(
        [{"name": "m", "value": 1.0, "task_id": task.id, "recorded_at": t} for t in times]
    )
    starts = [b.start for b in await store.metrics.buckets("m", task_id=task.id, bucket_seconds=60)]
    assert starts == [
        datetime(1969, 12, 31, 23, 59, tzinfo=UTC),
        datetime(2030, 1, 1, 0, 0, tzinfo=UTC),
    ]

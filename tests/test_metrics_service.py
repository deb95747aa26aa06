"""Metric points through ``store.metrics``: record, atomic batches, series, summaries, buckets."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from flightlog import MetricType, NewMetric, Store, ValidationError
from flightlog.models import MetricPoint, Task

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def _task(store: Store) -> Task:
    return await store.tasks.create(title="metrics")


async def _names(store: Store, task_id: uuid.UUID) -> dict[str, int]:
    return {name: s.count for name, s in (await store.metrics.summarize(task_id=task_id)).items()}


async def test_record_one_point(store: Store) -> None:
    task = await _task(store)
    point = await store.metrics.record(
        {
            "name": "tokens",
            "value": 42,
            "metric_type": "counter",
            "unit": "tok",
            "labels": {"model": "m1"},
            "task_id": task.id,
        }
    )
    assert isinstance(point.id, int)
    assert point.metric_type is MetricType.COUNTER
    # Without recorded_at the database clock sets an aware UTC time.
    assert point.recorded_at.tzinfo is not None
    assert point.recorded_at.utcoffset() == timedelta(0)
    assert abs(point.recorded_at - datetime.now(UTC)) < timedelta(hours=1)

    [read] = await store.metrics.series("tokens", task_id=task.id)
    assert (read.id, read.value, read.unit, read.labels) == (point.id, 42.0, "tok", {"model": "m1"})


async def test_record_accepts_a_new_metric_model(store: Store) -> None:
    task = await _task(store)
    await store.metrics.record(
        NewMetric(name="cost", value=0.5, task_id=task.id, recorded_at=at(0))
    )
    [read] = await store.metrics.series("cost", task_id=task.id)
    assert read.value == 0.5
    assert read.recorded_at == at(0)


async def test_record_batch_writes_all_points(store: Store) -> None:
    task = await _task(store)
    count = await store.metrics.record_batch(
        [
            {"name": "a", "value": 1, "task_id": task.id, "recorded_at": at(1)},
            {"name": "a", "value": 2, "task_id": task.id},
            {"name": "b", "value": 3, "task_id": task.id, "recorded_at": at(2)},
        ]
    )
    assert count == 3
    assert await _names(store, task.id) == {"a": 2, "b": 1}
    assert await store.metrics.record_batch([]) == 0


@pytest.mark.parametrize(
    ("bad", "mentions"),
    [
        ({"name": "x", "value": float("nan")}, "value"),
        ({"name": "x", "value": float("inf")}, "value"),
        ({"value": 1.0}, "name"),
        ({"name": "", "value": 1.0}, "name"),
        ({"name": "x", "value": 1.0, "recorded_at": datetime(2030, 1, 1)}, "recorded_at"),
        ({"name": "x", "value": 1.0, "colour": "red"}, "colour"),
    ],
)
async def test_bad_point_rejects_the_whole_batch_and_names_its_index(
    store: Store, bad: dict[str, Any], mentions: str
) -> None:
    task = await _task(store)
    await store.metrics.record({"name": "kept", "value": 1, "task_id": task.id})
    batch: list[dict[str, Any]] = [
        {"name": "ok", "value": float(i), "task_id": task.id, "recorded_at": at(i)}
        for i in range(5)
    ]
    batch[3] = {**bad, "task_id": task.id}

    with pytest.raises(ValidationError) as caught:
        await store.metrics.record_batch(batch)

    assert "#3" in str(caught.value)
    assert mentions in str(caught.value)
    assert caught.value.details["index"] == 3
    assert await _names(store, task.id) == {"kept": 1}


async def test_series_is_in_time_order_not_insert_order(store: Store) -> None:
    task = await _task(store)
    other = await _task(store)
    await store.metrics.record_batch(
        [
            {"name": "latency", "value": 30, "task_id": task.id, "recorded_at": at(30)},
            {"name": "latency", "value": 10, "task_id": task.id, "recorded_at": at(10)},
            {"name": "latency", "value": 20, "task_id": task.id, "recorded_at": at(20)},
            {"name": "other", "value": 99, "task_id": task.id, "recorded_at": at(15)},
            {"name": "latency", "value": 99, "task_id": other.id, "recorded_at": at(15)},
        ]
    )
    await store.metrics.record(
        {"name": "latency", "value": 5, "task_id": task.id, "recorded_at": at(5)}
    )

    points = await store.metrics.series("latency", task_id=task.id)
    assert [p.value for p in points] == [5, 10, 20, 30]
    assert [p.recorded_at for p in points] == [at(5), at(10), at(20), at(30)]
    assert all(p.recorded_at.utcoffset() == timedelta(0) for p in points)

    window = await store.metrics.series("latency", task_id=task.id, since=at(10), until=at(30))
    assert [p.value for p in window] == [10, 20]
    assert [p.value for p in await store.metrics.series("latency", task_id=task.id, limit=2)] == [
        5,
        10,
    ]


async def test_series_by_run(store: Store) -> None:
    task = await _task(store)
    run = await store.runs.start(task.id)
    await store.metrics.record_batch(
        [
            {"name": "m", "value": 1, "task_id": task.id, "run_id": run.id, "recorded_at": at(1)},
            {"name": "m", "value": 2, "task_id": task.id, "recorded_at": at(2)},
        ]
    )
    assert [p.value for p in await store.metrics.series("m", run_id=run.id)] == [1]
    assert [p.value for p in await store.metrics.series("m", task_id=task.id)] == [1, 2]


async def test_summarize_last_is_the_latest_recorded_not_the_latest_inserted(
    store: Store,
) -> None:
    task = await _task(store)
    # The newest point is inserted first, the oldest last.
    await store.metrics.record(
        {"name": "score", "value": 7, "task_id": task.id, "recorded_at": at(300)}
    )
    await store.metrics.record(
        {"name": "score", "value": 1, "task_id": task.id, "recorded_at": at(100)}
    )
    await store.metrics.record(
        {"name": "score", "value": 4, "task_id": task.id, "recorded_at": at(200)}
    )
    await store.metrics.record(
        {"name": "score", "value": 100, "task_id": task.id, "recorded_at": at(0)}
    )
    await store.metrics.record_batch(
        [
            {"name": "cost", "value": 2.5, "task_id": task.id, "recorded_at": at(5)},
            {"name": "cost", "value": 0.5, "task_id": task.id, "recorded_at": at(1)},
        ]
    )

    summary = await store.metrics.summarize(task_id=task.id)
    assert set(summary) == {"score", "cost"}
    score = summary["score"]
    assert (score.name, score.count, score.min, score.max) == ("score", 4, 1.0, 100.0)
    assert score.avg == pytest.approx(28.0)
    assert score.last == 7.0
    cost = summary["cost"]
    assert (cost.count, cost.min, cost.max, cost.last) == (2, 0.5, 2.5, 2.5)
    assert cost.avg == pytest.approx(1.5)

    only = await store.metrics.summarize(task_id=task.id, names=["cost"])
    assert set(only) == {"cost"}
    early = await store.metrics.summarize(task_id=task.id, names=["score"], until=at(250))
    assert early["score"].count == 3
    assert early["score"].last == 4.0


async def test_summarize_last_breaks_time_ties_by_insert_order(store: Store) -> None:
    task = await _task(store)
    for value in (3, 9, 5):
        await store.metrics.record(
            {"name": "tie", "value": value, "task_id": task.id, "recorded_at": at(10)}
        )
    assert (await store.metrics.summarize(task_id=task.id))["tie"].last == 5.0


async def test_buckets_group_points_by_time_window(store: Store) -> None:
    task = await _task(store)
    await store.metrics.record_batch(
        [
            {"name": "rps", "value": 10, "task_id": task.id, "recorded_at": at(10)},
            {"name": "rps", "value": 30, "task_id": task.id, "recorded_at": at(50)},
            {"name": "rps", "value": 6, "task_id": task.id, "recorded_at": at(65)},
            {"name": "rps", "value": 8, "task_id": task.id, "recorded_at": at(60)},
            {"name": "rps", "value": 1, "task_id": task.id, "recorded_at": at(185.5)},
            {"name": "other", "value": 1000, "task_id": task.id, "recorded_at": at(20)},
        ]
    )

    buckets = await store.metrics.buckets("rps", task_id=task.id, bucket_seconds=60)
    assert [b.start for b in buckets] == [at(0), at(60), at(180)]
    assert all(b.start.utcoffset() == timedelta(0) for b in buckets)
    assert [b.count for b in buckets] == [2, 2, 1]
    assert [b.avg for b in buckets] == pytest.approx([20.0, 7.0, 1.0])
    assert [(b.min, b.max) for b in buckets] == [(10, 30), (6, 8), (1, 1)]

    hourly = await store.metrics.buckets("rps", task_id=task.id, bucket_seconds=3600)
    assert [(b.start, b.count) for b in hourly] == [(at(0), 5)]
    assert hourly[0].avg == pytest.approx(11.0)


async def test_reading_needs_a_task_or_run(store: Store) -> None:
    task = await _task(store)
    await store.metrics.record({"name": "m", "value": 1, "task_id": task.id})
    with pytest.raises(ValidationError, match="task_id or a run_id"):
        await store.metrics.series("m")
    with pytest.raises(ValidationError, match="task_id or a run_id"):
        await store.metrics.summarize()
    with pytest.raises(ValidationError, match="task_id or a run_id"):
        await store.metrics.buckets("m", bucket_seconds=60)


async def test_bad_read_arguments_are_rejected(store: Store) -> None:
    task = await _task(store)
    with pytest.raises(ValidationError, match="bucket_seconds"):
        await store.metrics.buckets("m", task_id=task.id, bucket_seconds=0)
    with pytest.raises(ValidationError, match="limit"):
        await store.metrics.series("m", task_id=task.id, limit=0)


async def test_points_are_rows_of_metric_points(store: Store) -> None:
    task = await _task(store)
    await store.metrics.record_batch(
        [{"name": "n", "value": i, "task_id": task.id, "recorded_at": at(i)} for i in range(3)]
    )
    async with store.transaction() as s:
        rows = (
            await s.scalars(
                select(MetricPoint.value)
                .where(MetricPoint.task_id == task.id)
                .order_by(MetricPoint.recorded_at)
            )
        ).all()
    assert list(rows) == [0.0, 1.0, 2.0]

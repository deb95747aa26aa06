"""The charts' aggregates count the same rows into the same windows on both databases.

``store.views.usage``, ``run_outcomes`` and ``run_durations`` and
``store.metrics.names`` and ``sources`` over work with known times and costs
(``charts_data``), another customer's work beside it, windows whose edges the
rows sit on, and the refusals; each also answered over HTTP by the client.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest

from api_client import client_of, error_code
from charts_data import (
    DAY,
    EXPECTED_DURATIONS,
    EXPECTED_OUTCOMES,
    day_start,
    expected_usage,
    seed,
    seed_metrics,
)
from flightlog import ValidationError
from flightlog.services.insights import DURATION_EDGES, UsageBucket
from flightlog.store import Store
from test_client import client_for


def _usage_rows(found: Sequence[UsageBucket]) -> list[tuple[object, ...]]:
    return [(b.start, b.group, b.agent_runs, b.tokens_in, b.tokens_out, b.cost_usd) for b in found]


async def test_usage_per_agent_and_per_project_per_day(store: Store, other: Store) -> None:
    base = day_start(5)
    await seed(store, base)
    await seed(other, base)  # the same work of another customer, counted apart
    for by in ("agent", "project"):
        found = await store.views.usage(since=base, bucket_seconds=86_400, buckets=3, by=by)
        assert _usage_rows(found) == expected_usage(base, by), by
    hourly = await store.views.usage(since=base, bucket_seconds=3600, buckets=48)
    assert [(b.start - base, b.group) for b in hourly] == [
        (timedelta(hours=2), "Alice"),
        (timedelta(hours=3), "Bob"),
        (DAY + timedelta(hours=1), "Alice"),
    ]
    assert hourly[-1].agent_runs == 2


async def test_a_window_holds_its_start_and_not_its_end(store: Store) -> None:
    base = day_start(5)
    task = await store.tasks.create(title="edges")
    run = await store.runs.start(task.id, started_at=base - timedelta(seconds=1))
    last_second = base + DAY - timedelta(seconds=1)
    inside = (base, last_second, last_second + timedelta(microseconds=500_000), base + DAY)
    for at in (base - timedelta(seconds=1), *inside, base + 2 * DAY):
        step = await store.agent_runs.start(run.id, agent_name="Edge", started_at=at)
        await store.agent_runs.finish(step.id, cost_usd="1", finished_at=at)
    found = await store.views.usage(since=base, bucket_seconds=86_400, buckets=2)
    assert [(b.start, b.agent_runs) for b in found] == [(base, 3), (base + DAY, 1)]
    # A start inside a second is cut to it, on both databases.
    later = await store.views.usage(
        since=base + timedelta(microseconds=900_000), bucket_seconds=86_400, buckets=2
    )
    assert [b.start for b in later] == [base, base + DAY]


async def test_run_outcomes_per_day_with_the_success_rate(store: Store, other: Store) -> None:
    base = day_start(5)
    await seed(store, base)
    await seed(other, base)
    found = await store.views.run_outcomes(since=base, bucket_seconds=86_400, buckets=3)
    assert [
        (
            (b.start - base) // DAY,
            b.completed,
            b.failed,
            b.timed_out,
            b.cancelled,
            b.success_rate,
        )
        for b in found
    ] == EXPECTED_OUTCOMES
    assert await store.views.run_outcomes(since=base + 3 * DAY, buckets=1) == []


async def test_run_durations_histogram(store: Store, other: Store) -> None:
    base = day_start(5)
    await seed(store, base)
    await seed(other, base)
    found = await store.views.run_durations(since=base)
    assert [b.low_seconds for b in found] == [float(e) for e in DURATION_EDGES]
    assert found[-1].high_seconds is None
    assert all(b.high_seconds == n.low_seconds for b, n in itertools.pairwise(found))
    assert {b.low_seconds: b.runs for b in found if b.runs} == EXPECTED_DURATIONS
    by_low = {b.low_seconds: b for b in found}
    assert (by_low[3600.0].completed, by_low[30.0].failed, by_low[0.0].failed) == (1, 1, 1)
    assert (by_low[120.0].completed, by_low[120.0].failed) == (0, 0)  # cancelled
    first_day = await store.views.run_durations(since=base, until=base + DAY)
    assert {b.low_seconds: b.runs for b in first_day if b.runs} == {3600.0: 1}


async def test_metric_names_and_sources_are_the_customers(store: Store, other: Store) -> None:
    base = day_start(5)
    seeded = await seed(store, base)
    await seed_metrics(store, seeded)
    theirs = await seed(other, base)
    await other.metrics.record_batch(
        [{"name": "their_secret", "value": 1, "task_id": theirs.loose_task}]
    )
    names = await store.metrics.names()
    assert [(n.name, n.points, n.unit) for n in names] == [
        ("latency_ms", 3, "ms"),
        ("queue_depth", 1, None),
    ]
    assert names[0].last_recorded_at == base + timedelta(hours=2, minutes=2)
    assert [n.name for n in await other.metrics.names()] == ["their_secret"]
    [source] = await store.metrics.sources("latency_ms")
    assert (source.task_id, source.task_title, source.run_id, source.run_number) == (
        seeded.project_task,
        "Map the coast",
        seeded.first_run,
        1,
    )
    assert source.points == 3
    assert source.first_recorded_at == base + timedelta(hours=2)
    [task_only] = await store.metrics.sources("queue_depth")
    assert (task_only.task_id, task_only.run_id, task_only.run_number) == (
        seeded.loose_task,
        None,
        None,
    )
    assert await store.metrics.sources("their_secret") == []
    assert len(await store.metrics.names(limit=1)) == 1


async def test_a_new_customer_has_nothing_to_chart(store: Store) -> None:
    since = day_start(30)
    assert await store.views.usage(since=since) == []
    assert await store.views.run_outcomes(since=since) == []
    assert sum(b.runs for b in await store.views.run_durations(since=since)) == 0
    assert await store.metrics.names() == []


@pytest.mark.parametrize(
    "call",
    [
        {"bucket_seconds": 59},
        {"bucket_seconds": 7 * 86_400 + 1},
        {"buckets": 0},
        {"buckets": 1001},
        {"since": datetime(2026, 1, 1)},  # naive
        {"by": "model"},
    ],
)
async def test_bad_windows_are_refused(store: Store, call: dict[str, object]) -> None:
    arguments: dict[str, object] = {"since": day_start(1)} | call
    with pytest.raises(ValidationError):
        await store.views.usage(**arguments)  # type: ignore[arg-type]


async def test_the_client_answers_what_the_store_does(store: Store) -> None:
    base = day_start(5)
    seeded = await seed(store, base)
    await seed_metrics(store, seeded)
    async with client_for(store) as fl:
        usage = await fl.views.usage(since=base, buckets=3, by="project")
        assert _usage_rows(usage) == expected_usage(base, "project")
        outcomes = await fl.views.run_outcomes(since=base, buckets=3)
        assert outcomes == await store.views.run_outcomes(since=base, buckets=3)
        durations = await fl.views.run_durations(since=base, until=base + 2 * DAY)
        assert durations == await store.views.run_durations(since=base, until=base + 2 * DAY)
        assert await fl.metrics.names() == await store.metrics.names()
        assert await fl.metrics.sources("latency_ms") == await store.metrics.sources("latency_ms")
        with pytest.raises(ValidationError):
            await fl.views.usage(since=base, bucket_seconds=10)
    async with client_of(store) as api:
        for path in ("/views/usage", "/views/run-outcomes", "/views/run-durations"):
            for since in ("0.5", "1700000000", "2026-01-01T00:00:00"):  # numbers, no offset
                refused = await api.get(path, params={"since": since})
                assert error_code(refused, 422) == "validation_error", (path, since)

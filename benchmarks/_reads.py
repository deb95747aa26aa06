"""Read paths at size: timed repetitions (p50/p95) and the plans of the queries they run."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event, func, select

from benchmarks._data import Fixture
from flightlog.models import Event, MetricPoint, Task
from flightlog.ops.purge import DEFAULT_BATCH, oldest_batch
from flightlog.services.events import list_events
from flightlog.services.timeline import TimelineCursor, run_timeline
from flightlog.store import Store


@dataclass
class ReadCase:
    """One read path's latency over ``iterations`` calls, and its query plans."""

    name: str
    table_rows: int
    iterations: int
    p50_ms: float
    p95_ms: float
    target_ms: float | None = None
    plans: list[str] = field(default_factory=list)

    @property
    def met(self) -> bool | None:
        return None if self.target_ms is None else self.p95_ms <= self.target_ms


@contextmanager
def captured(store: Store) -> Iterator[list[tuple[str, Any]]]:
    """Every SELECT sent while the block runs, with its parameters."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    # Every engine, not only the Store's: on SQLite a Store may run its calls on
    # a synchronous engine of its own on the same file.
    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


async def explain(store: Store, statement: str, parameters: Any) -> str:
    """The plan of one captured statement: EXPLAIN ANALYZE on PostgreSQL, QUERY PLAN on SQLite."""
    postgres = store.engine.dialect.name == "postgresql"
    prefix = "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " if postgres else "EXPLAIN QUERY PLAN "
    async with store.engine.connect() as conn:
        result = await conn.exec_driver_sql(prefix + statement, parameters)
        rows = result.all()
    if postgres:
        plan = "\n".join(str(row[0]) for row in rows)
    else:
        plan = "\n".join(f"{'  ' * (int(row[1]) > 0)}{row[-1]}" for row in rows)
    return f"{' '.join(statement.split())}\n---\n{plan}"


async def measure(
    store: Store,
    name: str,
    call: Callable[[int], Awaitable[Any]],
    *,
    iterations: int,
    table_rows: int,
    target_ms: float | None = None,
) -> ReadCase:
    """p50/p95 of ``iterations`` calls after 3 warm-ups, with the plans of one more."""
    cases = await measure_in_turn(
        name, [(store, call, table_rows)], iterations=iterations, target_ms=target_ms
    )
    return cases[0]


async def measure_in_turn(
    name: str,
    sides: Sequence[tuple[Store, Callable[[int], Awaitable[Any]], int]],
    *,
    iterations: int,
    target_ms: float | None = None,
) -> list[ReadCase]:
    """:func:`measure` of one read on several databases (``(store, call, table rows)``
    each), one call of each in turn, the order reversed every round: a drift of the
    machine's load during the run then falls alike on every side, where timing one side's
    calls after the other's put it all on one."""
    for warm in range(3):
        for _, call, _ in sides:
            await call(warm)
    samples: list[list[float]] = [[] for _ in sides]
    turn = list(range(len(sides)))
    for i in range(iterations):
        for k in turn if i % 2 == 0 else reversed(turn):
            start = time.perf_counter()
            await sides[k][1](i)
            samples[k].append((time.perf_counter() - start) * 1000)
    cases = []
    for (store, call, rows), taken in zip(sides, samples, strict=True):
        with captured(store) as statements:
            await call(iterations)
        plans = [await explain(store, sql, params) for sql, params in statements]
        cuts = statistics.quantiles(taken, n=100, method="inclusive")
        cases.append(
            ReadCase(
                name, rows, iterations, round(cuts[49], 3), round(cuts[94], 3), target_ms, plans
            )
        )
    return cases


async def measure_reads(
    store: Store,
    listing: Store,
    fx: Fixture,
    *,
    depth: int,
    table_rows: int,
    list_size: tuple[int, int],
    iterations: int,
    on_case: Callable[[ReadCase], None],
) -> list[ReadCase]:
    big_task, big_run = fx.tasks[0], fx.runs[0]
    async with store.reader() as s:
        at_depth = await s.scalar(
            select(Event.id)
            .where(Event.task_id == big_task)
            .order_by(Event.id)
            .offset(depth)
            .limit(1)
        )
        deep = (
            await s.execute(
                select(Event.id, Event.created_at)
                .where(Event.run_id == big_run)
                .order_by(Event.created_at, Event.id)
                .offset(depth)
                .limit(1)
            )
        ).one()
        cursors = list(
            (
                await s.scalars(
                    select(Task.id)
                    .where(Task.customer_id == listing.customer_id)
                    .order_by(func.random())
                    .limit(iterations)
                )
            ).all()
        )
    assert at_depth is not None, "the long-running task has fewer events than the keyset depth"
    deep_cursor = TimelineCursor(at=deep.created_at, kind="event", key=str(deep.id))
    tasks, runs = list_size
    rng = random.Random(3)
    cases: list[ReadCase] = []

    async def add(case: ReadCase) -> None:
        cases.append(case)
        on_case(case)

    async def task_page(i: int) -> Any:
        return await store.events.list(task_id=big_task, after_id=at_depth + 13 * i, limit=100)

    async def run_page(i: int) -> Any:
        return await store.events.list(run_id=big_run, after_id=at_depth + 13 * i, limit=100)

    async def task_list(i: int) -> Any:
        cursor = None if i % 10 == 0 else cursors[rng.randrange(len(cursors))]
        return await listing.tasks.list(limit=50, cursor=cursor)

    async def failed_tasks(i: int) -> Any:
        return await listing.tasks.list(status="FAILED", limit=50)

    def timeline(after: TimelineCursor | None) -> Callable[[int], Awaitable[Any]]:
        async def read(i: int) -> Any:
            async with store.reader() as s:
                return await s.run_sync(
                    run_timeline, store.customer_id, big_run, after=after, limit=100
                )

        return read

    async def series(i: int) -> Any:
        return await store.metrics.series("latency_ms", task_id=big_task, limit=1000)

    async def summary(i: int) -> Any:
        return await store.metrics.summarize(task_id=big_task)

    where = f"depth {depth:,} of {table_rows:,} events"
    size = f"{tasks:,} tasks / {runs:,} runs"
    common = {"iterations": iterations, "table_rows": table_rows}
    await add(
        await measure(
            store, f"keyset page of 100 task events, {where}", task_page, target_ms=10, **common
        )
    )
    await add(
        await measure(
            store, f"keyset page of 100 run events, {where}", run_page, target_ms=10, **common
        )
    )
    async with store.reader() as open_session:

        async def service_page(i: int) -> Any:
            page = await open_session.run_sync(
                list_events,
                store.customer_id,
                task_id=big_task,
                after_id=at_depth + 13 * i,
                limit=100,
            )
            open_session.expunge_all()
            return page

        await add(
            await measure(
                store,
                f"keyset page of 100 task events, list_events in an open session, {where}",
                service_page,
                target_ms=10,
                **common,
            )
        )
    listing_common = {"iterations": iterations, "table_rows": tasks}
    await add(
        await measure(
            listing,
            f"task list with statistics, page of 50, {size}",
            task_list,
            target_ms=50 if store.engine.dialect.name == "postgresql" else None,
            **listing_common,
        )
    )
    await add(
        await measure(
            listing,
            f"task list filtered by status, page of 50, {size}",
            failed_tasks,
            **listing_common,
        )
    )
    await add(await measure(store, "run timeline, first page of 100", timeline(None), **common))
    await add(
        await measure(
            store, f"run timeline, page of 100 at {where}", timeline(deep_cursor), **common
        )
    )
    await add(await measure(store, "metric series, 1,000 points of one name", series, **common))
    await add(
        await measure(
            store,
            "metric summary of a task (all names)",
            summary,
            iterations=max(5, iterations // 40),
            table_rows=table_rows,
        )
    )
    await measure_purge_batches(store, iterations=iterations, on_case=add)
    return cases


async def _cutoff(store: Store, timestamp: Any, share: int) -> tuple[Any, int]:
    """A cutoff with about ``share`` rows older than it, and how many exactly are."""
    async with store.reader() as s:
        cutoff = await s.scalar(select(timestamp).order_by(timestamp).offset(share).limit(1))
        older = int(
            await s.scalar(
                select(func.count()).select_from(timestamp.table).where(timestamp < cutoff)
            )
            or 0
        )
    return cutoff, older


async def measure_purge_batches(
    store: Store, *, iterations: int, on_case: Callable[[ReadCase], Awaitable[None]]
) -> None:
    """The purge's batch query (``flightlog purge``) on both hot tables, as it is sent.

    A batch is the ids of the oldest ``DEFAULT_BATCH`` rows before the cutoff, in id
    order; the last batch of a purge finds nothing more and reads the rest of the table.
    ``metric_points`` has no time index since migration 0007; ``events`` keeps
    ``ix_events_created_at``. (Only the SELECT is timed: the DELETE around it would
    change the table under the other cases.)
    """
    async with store.reader() as s:
        points = int(await s.scalar(select(func.count(MetricPoint.id))) or 0)
        events = int(await s.scalar(select(func.count(Event.id))) or 0)
    targets = (
        ("metric points", MetricPoint.__table__, MetricPoint.recorded_at, points, points // 10),
        ("events", Event.__table__, Event.created_at, events, min(events // 10, 100_000)),
    )
    for label, table, timestamp, rows, share in targets:
        if rows == 0:
            continue
        cutoff, old = await _cutoff(store, timestamp, share)
        first, _ = await _cutoff(store, timestamp, 0)

        def batch(before: Any, table: Any = table, timestamp: Any = timestamp) -> Any:
            async def read(i: int) -> Any:
                async with store.reader() as s:
                    stmt = oldest_batch(table, timestamp, before, DEFAULT_BATCH)
                    return (await s.execute(stmt)).all()

            return read

        await on_case(
            await measure(
                store,
                f"purge batch: ids of the {DEFAULT_BATCH:,} oldest {label} "
                f"({old:,} of {rows:,} older than the cutoff)",
                batch(cutoff),
                iterations=max(5, iterations // 4),
                table_rows=rows,
            )
        )
        await on_case(
            await measure(
                store,
                f"purge, last batch: no {label} older than the cutoff (one pass over {rows:,})",
                batch(first),
                iterations=max(3, iterations // 40),
                table_rows=rows,
            )
        )

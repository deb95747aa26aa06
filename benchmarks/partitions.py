"""Partitioned vs plain ``events`` on PostgreSQL (issue 16, item 1; decision 0016).

``.venv/bin/python -m benchmarks.partitions [--quick] [--repeats 2]``

Per repeat, two fresh throwaway PostgreSQL databases at head, side by side: one
as migration 0010 leaves it (``events`` and ``metric_points`` partitioned by
month), one whose two tables 0010's own downgrade turned back into plain
tables, stamped 0010 again so that the same Flightlog opens both. Every
measurement alternates between the two (this machine is shared: the load
drifts alike for both), and the order flips with each repeat:

1. **ingest**: 5 rounds of 60,000 events per side; each round the raw COPY
   ceiling (the faster of asyncpg ``copy_records_to_table`` and psycopg
   ``COPY``) and ``ingest_events`` in a Store transaction, the same rows;
2. **old events** (setup, untimed): 1,000,000 events spread over the twelve
   months of 2025, written by raw COPY (FK triggers off for that connection);
   then ``VACUUM ANALYZE`` and a ``CHECKPOINT``, as months-old rows are in
   production: vacuumed by autovacuum long ago and on disk (freshly written
   rows are dirtied again by the first scan that sets their hint bits);
3. **keyset pages** of 100 (``store.events.list``), p50/p95 of 200 calls after
   3 warm-ups: a task's stream, a run's, and the customer's whole stream, each
   from a cursor half-way down; a call on each side in turn, so that drift falls
   alike on both (until 2026-11-30 each side's 200 calls ran as one block);
4. **purge** (``flightlog.ops.purge.purge``) of everything before 2026-01-01,
   timed: the twelve months dropped whole, or deleted in batches of 5,000;
   then ``VACUUM events``, timed apart (what a DELETE leaves to reclaim);
5. the same number of old events again, all in one month (June 2024: one
   partition), settled the same way, and purged the same way.
   Each purge's report must count exactly the old events, on both.

Targets: partitioned ingest >= 0.9x plain; purge >= 100x faster; keyset p95
unchanged (<= 1.1x). Prints a table; writes ``results/<date>-partitions.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from rich.table import Table
from sqlalchemy import text

from benchmarks import _ceilings, _data, _flightlog
from benchmarks._databases import Database, server_version, throwaway
from benchmarks._fill import fill
from benchmarks._phases import ROOT, console
from benchmarks._plan import FULL, QUICK, Plan
from benchmarks._reads import measure_in_turn
from benchmarks._report import RESULTS, machine, versions
from flightlog.db.engine import create_sync_engine
from flightlog.db.partition_layout import slot_of
from flightlog.db.partitions import ensure_slots
from flightlog.migrations.runner import Migrator
from flightlog.ops.purge import purge
from flightlog.store import Store, open_store

SCHEMAS = {"partitioned": "partitioned by month (0010)", "plain": "plain tables (0009's)"}
#: The year of old events the first purge removes, twelve partitions.
YEAR_START, CUTOFF = datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)
#: The one month of old events the second purge removes, one partition.
MONTH_START, MONTH_END = datetime(2024, 6, 1, tzinfo=UTC), datetime(2024, 7, 1, tzinfo=UTC)
SEGMENT = 100_000
TARGETS = {"ingest": 0.9, "purge": 100.0, "keyset": 1.1}


@dataclass(frozen=True)
class Sizes:
    plan: Plan
    old_events: int


def _unpartition(db: Database) -> None:
    """Plain tables at head: 0010's downgrade, its version put back, then what follows 0010."""
    migrator = Migrator(db.settings, db.url)
    migrator.downgrade("0009")
    with db.psycopg() as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0010'")
    migrator.upgrade("head")


def _months(db: Database, start: datetime, end: datetime) -> None:
    """Partitions for the months of [start, end), made the way a writer makes them."""
    engine = create_sync_engine(db.settings, url=db.url)
    try:
        with engine.begin() as connection:
            ensure_slots(connection, "events", set(range(slot_of(start), slot_of(end))))
    finally:
        engine.dispose()


async def _fill_old(
    db: Database, fx: _data.Fixture, count: int, first: int, start: datetime, end: datetime
) -> float:
    """``count`` events spread evenly over [start, end), by raw COPY in segments (setup)."""
    span = (end - start) / count
    columns = (*_data.EVENT_COLUMNS, "created_at")
    seconds = 0.0
    for offset in range(0, count, SEGMENT):
        size = min(SEGMENT, count - offset)
        rows = _data.event_rows("postgresql", fx, list(_data.events(fx, first + offset, size)))
        timed = [(*row, start + span * (offset + i)) for i, row in enumerate(rows)]
        seconds += await fill(db, "events", columns, timed)
    return seconds


async def _cursor(store: Store, where: str, params: dict[str, Any]) -> int:
    """The id half-way down a stream (untimed)."""
    async with store.reader() as s:
        total = int(await s.scalar(text(f"SELECT count(*) FROM events WHERE {where}"), params))
        sql = f"SELECT id FROM events WHERE {where} ORDER BY id OFFSET :k LIMIT 1"
        return int(await s.scalar(text(sql), {**params, "k": total // 2}))


#: (name, condition, the scope ``store.events.list`` is given) of the streams paged.
STREAMS: tuple[tuple[str, str, Any], ...] = (
    ("a task's stream", "task_id = :v", lambda fx: ("task_id", fx.tasks[0])),
    ("a run's stream", "run_id = :v", lambda fx: ("run_id", fx.runs[0])),
    ("the customer's stream", "customer_id = :v", lambda fx: (None, fx.customer_id)),
)


def _pager(store: Store, cursor: int, scope: dict[str, Any]) -> Callable[[int], Awaitable[Any]]:
    async def page(_: int) -> Any:
        return await store.events.list(after_id=cursor, limit=100, **scope)

    return page


async def _keyset(sides: list[Side], name: str, where: str, scope_of: Any, iterations: int) -> Any:
    """p50/p95 of ``store.events.list`` pages of 100 from a cursor half-way down a stream,
    on both sides, a call of each in turn."""
    calls = []
    for side in sides:
        key, value = scope_of(side.fx)
        cursor = await _cursor(side.store, where, {"v": value})
        async with side.store.reader() as s:
            rows = int(await s.scalar(text("SELECT count(*) FROM events")))
        scope = {} if key is None else {key: value}
        calls.append((side.store, _pager(side.store, cursor, scope), rows))
    return await measure_in_turn(
        f"keyset page of 100, {name} at half depth", calls, iterations=iterations
    )


@dataclass
class Side:
    """One of the two databases of a pair, and what was measured on it."""

    schema: str
    db: Database
    store: Store
    fx: _data.Fixture
    next_event: int = 0
    raw: list[float] = field(default_factory=list)
    flightlog: list[float] = field(default_factory=list)


async def _ingest_round(side: Side, rows_per_round: int) -> None:
    """One round on one side: the raw COPY ceilings, then ``ingest_events``, same rows."""
    rows = list(_data.events(side.fx, side.next_event, rows_per_round))
    side.next_event += rows_per_round
    raw = _data.event_rows("postgresql", side.fx, rows)
    copies = (
        await _ceilings.asyncpg_copy(side.db, "events", _data.EVENT_COLUMNS, raw),
        _ceilings.psycopg_copy(side.db, "events", _data.EVENT_COLUMNS, raw),
    )
    side.raw.append(min(copies))
    side.flightlog.append(await _flightlog.batch_events(side.store, rows))


async def _settle(side: Side) -> None:
    """Months-old rows as production has them: vacuumed long ago and on disk."""
    with side.db.psycopg() as conn:
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")


async def _purge(side: Side) -> tuple[float, float, Any]:
    """Purge everything before the cutoff (timed), then VACUUM the table (timed apart)."""
    engine = create_sync_engine(side.db.settings, url=side.db.url)
    try:
        started = time.perf_counter()
        report = await asyncio.to_thread(purge, engine, cutoff=CUTOFF)
        purged = time.perf_counter() - started
    finally:
        engine.dispose()
    with side.db.psycopg() as conn:
        conn.autocommit = True
        started = time.perf_counter()
        conn.execute("VACUUM events")
        vacuumed = time.perf_counter() - started
    return purged, vacuumed, report


async def one_pair(sizes: Sizes, repeat: int) -> dict[str, dict[str, Any]]:
    """Both schemas side by side, every measurement alternating between them, so the
    machine's load drifts alike for both (this machine is shared)."""
    plan = sizes.plan
    async with throwaway("postgresql") as part_db, throwaway("postgresql") as plain_db:
        await asyncio.to_thread(_months, part_db, YEAR_START, CUTOFF)
        await asyncio.to_thread(_unpartition, plain_db)
        server = server_version(part_db)
        async with (
            open_store(part_db.settings.database_url, settings=part_db.settings) as part_store,
            open_store(plain_db.settings.database_url, settings=plain_db.settings) as plain_store,
        ):
            sides = [
                Side(
                    schema,
                    db,
                    store,
                    await _data.create_fixture(
                        store, task_count=plan.tasks, big_share=plan.big_task_share
                    ),
                )
                for schema, db, store in (
                    ("partitioned", part_db, part_store),
                    ("plain", plain_db, plain_store),
                )
            ]
            for r in range(plan.ratio_rounds):
                for side in sides if (r + repeat) % 2 == 0 else reversed(sides):
                    await _ingest_round(side, plan.ratio_rows)
                console.log(
                    f"ingest round {r + 1}: "
                    + ", ".join(
                        f"{s.schema} {plan.ratio_rows / s.flightlog[-1]:,.0f} rows/s "
                        f"(raw {plan.ratio_rows / s.raw[-1]:,.0f})"
                        for s in sides
                    )
                )
            fills = {}
            for side in sides:
                fills[side.schema] = await _fill_old(
                    side.db, side.fx, sizes.old_events, side.next_event, YEAR_START, CUTOFF
                )
                await _settle(side)
            reads: dict[str, list[Any]] = {side.schema: [] for side in sides}
            for name, where, scope_of in STREAMS:
                turn = sides if repeat % 2 == 0 else sides[::-1]
                measured = await _keyset(turn, name, where, scope_of, plan.read_iterations)
                for side, case in zip(turn, measured, strict=True):
                    reads[side.schema].append(case)
        results = {}
        for side in sides if repeat % 2 == 0 else reversed(sides):
            purged, vacuumed, report = await _purge(side)
            assert report.events == sizes.old_events, (report.events, sizes.old_events)
            results[side.schema] = {
                "schema": side.schema,
                "server": server,
                "raw_rate": plan.ratio_rows / statistics.median(side.raw),
                "flightlog_rate": plan.ratio_rows / statistics.median(side.flightlog),
                "raw_seconds": side.raw,
                "flightlog_seconds": side.flightlog,
                "old_events": sizes.old_events,
                "fill_seconds": round(fills[side.schema], 2),
                "reads": [
                    {"name": r.name, "rows": r.table_rows, "p50_ms": r.p50_ms, "p95_ms": r.p95_ms}
                    for r in reads[side.schema]
                ],
                "plans": {r.name: r.plans for r in reads[side.schema]},
                "purge_seconds": round(purged, 3),
                "vacuum_after_purge_seconds": round(vacuumed, 3),
                "purged_events": report.events,
                "partitions_dropped": list(report.partitions),
            }
            console.log(
                f"{side.schema}: purge {purged:.2f} s (then VACUUM {vacuumed:.2f} s), "
                f"{len(report.partitions)} partitions dropped"
            )
        # The same number of old events in one month: one partition to drop.
        await asyncio.to_thread(_months, part_db, MONTH_START, MONTH_END)
        for side in sides:
            first = side.next_event + sizes.old_events
            await _fill_old(side.db, side.fx, sizes.old_events, first, MONTH_START, MONTH_END)
            await _settle(side)
        for side in sides if repeat % 2 == 0 else reversed(sides):
            purged, vacuumed, report = await _purge(side)
            assert report.events == sizes.old_events, (report.events, sizes.old_events)
            results[side.schema]["purge_one_month_seconds"] = round(purged, 3)
            results[side.schema]["vacuum_after_one_month_seconds"] = round(vacuumed, 3)
            console.log(f"{side.schema}: purge of one month {purged:.2f} s")
    return results


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(float(r[key]) for r in runs))


def _read_median(runs: list[dict[str, Any]], name: str, key: str) -> float:
    return float(
        statistics.median(next(r[key] for r in run["reads"] if r["name"] == name) for run in runs)
    )


def summary(results: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Partitioned over plain, per measurement, with the targets."""
    part, plain = results["partitioned"], results["plain"]
    rows: dict[str, Any] = {}
    for what, key in (("ingest, raw COPY", "raw_rate"), ("ingest, Flightlog", "flightlog_rate")):
        rows[what] = {
            "partitioned": _median(part, key),
            "plain": _median(plain, key),
            "ratio": _median(part, key) / _median(plain, key),
        }
    rows["ingest, Flightlog"]["target"] = f">= {TARGETS['ingest']}x"
    rows["ingest, Flightlog"]["met"] = rows["ingest, Flightlog"]["ratio"] >= TARGETS["ingest"]
    dropped, deleted = _median(part, "purge_seconds"), _median(plain, "purge_seconds")
    rows["purge of the old events"] = {
        "partitioned": dropped,
        "plain": deleted,
        "ratio": deleted / dropped,
        "target": f">= {TARGETS['purge']:.0f}x faster",
        "met": deleted / dropped >= TARGETS["purge"],
    }
    one = _median(part, "purge_one_month_seconds"), _median(plain, "purge_one_month_seconds")
    rows["purge of the same number in one month"] = {
        "partitioned": one[0],
        "plain": one[1],
        "ratio": one[1] / one[0],
        "target": f">= {TARGETS['purge']:.0f}x faster",
        "met": one[1] / one[0] >= TARGETS["purge"],
    }
    cleaned = {
        schema: _median(runs, "purge_seconds") + _median(runs, "vacuum_after_purge_seconds")
        for schema, runs in (("partitioned", part), ("plain", plain))
    }
    rows["purge, then VACUUM events"] = {
        "partitioned": cleaned["partitioned"],
        "plain": cleaned["plain"],
        "ratio": cleaned["plain"] / cleaned["partitioned"],
    }
    for read in part[0]["reads"]:
        name = read["name"]
        p95 = _read_median(part, name, "p95_ms"), _read_median(plain, name, "p95_ms")
        rows[name] = {
            "partitioned": p95[0],
            "plain": p95[1],
            "partitioned_p50": _read_median(part, name, "p50_ms"),
            "plain_p50": _read_median(plain, name, "p50_ms"),
            "ratio": p95[0] / p95[1],
            "target": f"p95 <= {TARGETS['keyset']}x",
            "met": p95[0] / p95[1] <= TARGETS["keyset"],
        }
    return rows


def summary_table(rows: dict[str, Any], old_events: int) -> Table:
    table = Table(title=f"partitioned vs plain events, PostgreSQL ({old_events:,} old events)")
    for column in ("measurement", "partitioned", "plain", "partitioned / plain", "target", ""):
        table.add_column(column)
    for name, row in rows.items():
        if name.startswith("ingest"):
            cells = (f"{row['partitioned']:,.0f} rows/s", f"{row['plain']:,.0f} rows/s")
            ratio = f"{row['ratio']:.2f}x"
        elif name.startswith("purge"):
            cells = (f"{row['partitioned']:.2f} s", f"{row['plain']:.2f} s")
            ratio = f"{row['ratio']:,.0f}x faster"
        else:
            cells = (
                f"p50 {row['partitioned_p50']:.2f} / p95 {row['partitioned']:.2f} ms",
                f"p50 {row['plain_p50']:.2f} / p95 {row['plain']:.2f} ms",
            )
            ratio = f"p95 {row['ratio']:.2f}x"
        met = {True: "met", False: "missed", None: ""}[row.get("met")]
        table.add_row(name, *cells, ratio, row.get("target", ""), met)
    return table


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.partitions", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke sizes (50,000 old events)")
    parser.add_argument("--repeats", type=int, default=1, help="fresh database pairs")
    args = parser.parse_args(argv)
    sizes = Sizes(QUICK, 50_000) if args.quick else Sizes(FULL, 1_000_000)
    results: dict[str, list[dict[str, Any]]] = {schema: [] for schema in SCHEMAS}
    for repeat in range(args.repeats):
        console.log(f"repeat {repeat + 1} of {args.repeats}")
        pair = await one_pair(sizes, repeat)
        for schema, run in pair.items():
            results[schema].append(run)
            for read in run["reads"]:
                console.log(
                    f"{schema} {read['name']}: p50 {read['p50_ms']:.2f} ms, "
                    f"p95 {read['p95_ms']:.2f} ms"
                )
    rows = summary(results)
    console.print(summary_table(rows, sizes.old_events))
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = "-quick" if args.quick else ""
    path = RESULTS / f"{date.today().isoformat()}-partitions{suffix}.json"
    report = {
        "date": date.today().isoformat(),
        "mode": sizes.plan.name,
        "command": ".venv/bin/python -m benchmarks.partitions"
        + (" --quick" if args.quick else "")
        + f" --repeats {args.repeats}",
        "machine": machine(),
        "versions": versions(results["partitioned"][0]["server"]),
        "summary": rows,
        "results": results,
    }
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    console.log(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))

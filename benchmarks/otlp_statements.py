"""Where PostgreSQL's time goes in OTLP span ingest: every statement timed, then one
request's event rows copied again with parts of the table's work taken away.

``.venv/bin/python -m benchmarks.otlp_statements [--spans N]`` (about a minute on 2
cores). On a throwaway PostgreSQL database it sends ``benchmarks.otlp``'s requests
(512 spans each) to the app in this process, one at a time, with the heap frozen as
``flightlog serve`` freezes it, and times every statement on the connection (SQLAlchemy's
cursor events; COPY by its writer), per span sent. It then copies the largest request's
event rows again with the raw driver, each time in a transaction that is rolled back:

- as written;
- with triggers off (``session_replication_role = replica``): the foreign-key checks;
- with ``data`` replaced by ``{}``: the JSON parsed into ``jsonb``.

A probe, not a benchmark with a target: it prints its figures and writes no file.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import time
from collections.abc import Sequence
from typing import Any

import asyncpg
import httpx
from sqlalchemy import event

from benchmarks import _otlp_paths as paths
from benchmarks import _otlp_traces as traces
from benchmarks._databases import throwaway
from flightlog.api import create_app
from flightlog.ingest import _postgres
from flightlog.store import open_store

#: Requests sent before timing starts (connections, prepared statements, caches).
WARM_UP = 4


class Timings:
    """Seconds and counts per statement; the largest COPY of each table, kept."""

    def __init__(self) -> None:
        self.seconds: collections.Counter[str] = collections.Counter()
        self.count: collections.Counter[str] = collections.Counter()
        self.largest: dict[str, tuple[list[Any], list[str]]] = {}

    def add(self, statement: str, seconds: float) -> None:
        self.seconds[statement] += seconds
        self.count[statement] += 1

    def clear(self) -> None:
        self.seconds.clear()
        self.count.clear()


def _time_copies(timings: Timings) -> None:
    """Wrap the PostgreSQL writer's COPY so that it is timed and its largest rows kept."""
    original = _postgres.PostgresWriter._copy_records

    async def timed(self: Any, rows: list[Any], columns: tuple[str, ...]) -> None:
        table = self._stream.table
        if len(rows) > len(timings.largest.get(table, ([], []))[0]):
            timings.largest[table] = (list(rows), list(columns))
        started = time.perf_counter()
        try:
            await original(self, rows, columns)
        finally:
            timings.add(f"COPY {table}", time.perf_counter() - started)

    _postgres.PostgresWriter._copy_records = timed  # type: ignore[method-assign]


async def _copy_again(url: str, rows: list[Any], columns: list[str]) -> None:
    """The event rows copied again, by variant, three times each; the best time printed."""
    data = columns.index("data")
    small = [(*row[:data], "{}", *row[data + 1 :]) for row in rows]
    variants = {"as written": (rows, None), "triggers off": (rows, "replica"),
                "data as {}": (small, None)}  # fmt: skip
    conn = await asyncpg.connect(url)
    try:
        for name, (records, role) in variants.items():
            best = float("inf")
            for _ in range(3):
                transaction = conn.transaction()
                await transaction.start()
                if role is not None:
                    await conn.execute(f"SET LOCAL session_replication_role = {role}")
                started = time.perf_counter()
                await conn.copy_records_to_table("events", records=records, columns=columns)
                best = min(best, time.perf_counter() - started)
                await transaction.rollback()
            print(
                f"  COPY events, {len(rows)} rows, {name}: {best * 1000:.1f} ms "
                f"({best / len(rows) * 1e6:.0f} us per row)"
            )
    finally:
        await conn.close()


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.otlp_statements")
    parser.add_argument("--spans", type=int, default=30_720, help="spans to send")
    args = parser.parse_args(argv)
    timings = Timings()
    _time_copies(timings)
    bodies = traces.bodies(7, args.spans)
    async with throwaway("postgresql") as db:
        settings = db.settings
        async with open_store(settings.database_url, settings=settings, upgrade=False) as store:
            engine = store.engine.sync_engine

            @event.listens_for(engine, "before_cursor_execute")
            def started(conn: Any, *_: Any) -> None:
                conn.info["statement_started"] = time.perf_counter()

            @event.listens_for(engine, "after_cursor_execute")
            def ended(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
                seconds = time.perf_counter() - conn.info["statement_started"]
                timings.add(" ".join(statement.split())[:90], seconds)

            key = (await store.api_keys.create("statements probe")).key
            app = create_app(settings, engine=store.engine, dashboard=False)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
                await paths.send(client, key, bodies[:WARM_UP], 1)
                gc.collect()
                gc.freeze()  # as flightlog serve does (decision 0021)
                timings.clear()
                began = time.perf_counter()
                await paths.send(client, key, bodies[WARM_UP:], 1)
                elapsed = time.perf_counter() - began
        spans = (len(bodies) - WARM_UP) * traces.SPANS_PER_REQUEST
        total = sum(timings.seconds.values())
        print(
            f"{spans / elapsed:,.0f} spans/s in process, {elapsed / spans * 1e6:.0f} us per span; "
            f"{total / spans * 1e6:.0f} us per span in statements:"
        )
        for statement, seconds in timings.seconds.most_common(12):
            print(
                f"  {seconds / spans * 1e6:6.1f} us per span  {timings.count[statement]:5d}x  "
                f"{statement}"
            )
        rows, columns = timings.largest["events"]
        await _copy_again(db.conninfo, rows, columns)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))

"""The measurements of one dialect, in the order that keeps table sizes meaningful."""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from benchmarks import _ceilings, _data, _fill, _flightlog
from benchmarks._databases import Database
from benchmarks._plan import Plan
from benchmarks._report import Case, case
from benchmarks._rss import fixture_to_json
from flightlog.services.customers import create_customer
from flightlog.store import Store

ROOT = Path(__file__).resolve().parent.parent
console = Console(width=150)


class DialectRun:
    """Every measurement of one dialect, in the order that keeps table sizes meaningful."""

    def __init__(self, db: Database, store: Store, fx: _data.Fixture, plan: Plan) -> None:
        self.db, self.store, self.fx, self.plan = db, store, fx, plan
        self.cases: list[Case] = []
        self.fill_seconds = 0.0
        self.events_in_table = 0
        self.next_event = 0
        self.next_metric = 0
        self.raw_events_early = 0.0
        self.diagnostics: dict[str, Any] = {}

    def record(self, c: Case) -> Case:
        self.cases.append(c)
        note = f"{c.ratio:.2f}x {c.target or ''}" if c.ratio is not None else ""
        rate = f"{c.rate:,.0f} rows/s" if c.rate is not None else ""
        mark = {True: "[green]met[/]", False: "[red]missed[/]", None: ""}[c.met]
        console.log(f"[bold]{self.db.dialect}[/] {c.name}: {rate} {note} {mark}")
        return c

    def take_events(self, count: int) -> list[dict[str, Any]]:
        rows = list(_data.events(self.fx, self.next_event, count))
        self.next_event += count
        return rows

    async def ceilings(
        self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]
    ) -> dict[str, float]:
        if self.db.dialect == "sqlite":
            return {
                "sqlite3 executemany": _ceilings.sqlite_executemany(self.db, table, columns, rows)
            }
        return {
            "asyncpg copy_records_to_table": await _ceilings.asyncpg_copy(
                self.db, table, columns, rows
            ),
            "psycopg COPY": _ceilings.psycopg_copy(self.db, table, columns, rows),
        }

    async def ratio_rounds(self, what: str) -> None:
        """Raw ceilings and Flightlog alternate on the same table, several rounds each."""
        plan, dialect = self.plan, self.db.dialect
        timings: dict[str, list[float]] = {}
        for r in range(plan.ratio_rounds):
            if what == "events":
                rows = self.take_events(plan.ratio_rows)
                raw = _data.event_rows(dialect, self.fx, rows)
                table, columns = "events", _data.EVENT_COLUMNS
                ours = _flightlog.batch_events
            else:
                rows = list(_data.metrics(self.fx, self.next_metric, plan.ratio_rows))
                self.next_metric += plan.ratio_rows
                raw = _data.metric_rows(dialect, rows)
                table, columns = "metric_points", _data.METRIC_COLUMNS
                ours = _flightlog.batch_metrics
            if r % 2:
                timings.setdefault("flightlog", []).append(await ours(self.store, rows))
            for name, seconds in (await self.ceilings(table, columns, raw)).items():
                timings.setdefault(name, []).append(seconds)
            if not r % 2:
                timings.setdefault("flightlog", []).append(await ours(self.store, rows))
            if what == "events":
                self.events_in_table += len(rows) * (len(timings))
        medians = {name: statistics.median(values) for name, values in timings.items()}
        best = max(plan.ratio_rows / s for name, s in medians.items() if name != "flightlog")
        if what == "events":
            self.raw_events_early = best
        for name, seconds in medians.items():
            if name != "flightlog":
                self.record(
                    case(f"{what}: raw {name}", plan.ratio_rows, seconds, rounds=timings[name])
                )
        function = "ingest_events" if what == "events" else "ingest_metrics"
        self.record(
            case(
                f"{what}: Flightlog {function} (batch)",
                plan.ratio_rows,
                medians["flightlog"],
                ceiling=best,
                target_ratio=0.7,
                rounds=timings["flightlog"],
            )
        )

    async def appender_rounds(self) -> None:
        plan = self.plan
        appended: list[float] = []
        batch: list[float] = []
        for r in range(plan.appender_rounds):
            rows = self.take_events(plan.appender_rows)
            if r % 2:
                batch.append(await _flightlog.batch_events(self.store, rows))
            appended.append(await _flightlog.appended_events(self.store, rows))
            if not r % 2:
                batch.append(await _flightlog.batch_events(self.store, rows))
            self.events_in_table += 2 * len(rows)
        batch_rate = plan.appender_rows / statistics.median(batch)
        self.record(
            case(
                "events: EventAppender, one append() per event",
                plan.appender_rows,
                statistics.median(appended),
                ceiling=batch_rate,
                target_ratio=0.5,
                reference="Flightlog batch ingest, same rounds",
                rounds=appended,
            )
        )

    async def http_rounds(self) -> None:
        """HTTP event ingest against the Python API with the same batches, alternating.

        Both sides commit one transaction per ``http_batch`` rows, so the ratio
        is the cost of the HTTP layer (JSON, text UUIDs, ASGI) alone. Smaller
        transactions cost SQLite more than one large batch does; that is a
        matter of batch size, measured by the appender case, not of HTTP.
        """
        plan = self.plan
        posted: list[float] = []
        direct: list[float] = []
        for r in range(plan.http_rounds):
            rows = self.take_events(plan.http_rows)
            bodies = _flightlog.http_bodies(rows, plan.http_batch)
            if r % 2:
                direct.append(await _flightlog.batched_appends(self.store, rows, plan.http_batch))
            posted.append(await _flightlog.http_events(self.store, bodies))
            if not r % 2:
                direct.append(await _flightlog.batched_appends(self.store, rows, plan.http_batch))
            self.events_in_table += 2 * len(rows)
        direct_rate = plan.http_rows / statistics.median(direct)
        self.record(
            case(
                f"events: HTTP POST /api/v1/events, {plan.http_batch:,} per request (in-process)",
                plan.http_rows,
                statistics.median(posted),
                ceiling=direct_rate,
                target_ratio=0.5,
                reference=f"store.events.append_batch of the same {plan.http_batch:,}-row batches",
                rounds=posted,
            )
        )

    async def fill_to(self, size: int) -> None:
        """Grow the events table to ``size`` rows with the raw driver (setup, not measured)."""
        while self.events_in_table < size:
            count = min(self.plan.fill_segment, size - self.events_in_table)
            rows = _data.event_rows(
                self.db.dialect, self.fx, list(_data.events(self.fx, self.next_event, count))
            )
            seconds = await _fill.fill(self.db, "events", _data.EVENT_COLUMNS, rows)
            self.next_event += count
            self.fill_seconds += seconds
            console.log(
                f"{self.db.dialect} fill: {self.events_in_table:,} -> "
                f"{self.events_in_table + count:,} events ({count / seconds:,.0f}/s, raw, setup)"
            )
            self.events_in_table += count

    async def growth_sample(self, index: int, reference: float | None) -> float:
        """Flightlog's batch rate at one table size: the median of a few batches."""
        size = self.plan.growth_sizes[index]
        await self.fill_to(size)
        at_start = self.events_in_table
        timings = []
        for _ in range(self.plan.growth_batches):
            rows = self.take_events(self.plan.growth_rows)
            timings.append(await _flightlog.batch_events(self.store, rows))
            self.events_in_table += len(rows)
        label = f"{size:,}" if size else "0"
        last = index == len(self.plan.growth_sizes) - 1
        c = self.record(
            case(
                f"events: growth, Flightlog ingest with {label} rows in the table",
                self.plan.growth_rows,
                statistics.median(timings),
                ceiling=reference,
                target_ratio=0.8 if reference is not None and last else None,
                table_rows=at_start,
                reference="rate with 0 rows in the table" if reference is not None else None,
                rounds=timings,
            )
        )
        return c.rate or 0.0

    async def ceiling_at_size(self) -> None:
        """Ceilings and Flightlog once more at the largest size, alternating, medians."""
        timings: dict[str, list[float]] = {}
        at_start = self.events_in_table
        for r in range(self.plan.growth_batches):
            rows = self.take_events(self.plan.growth_rows)
            raw = _data.event_rows(self.db.dialect, self.fx, rows)
            if r % 2:
                timings.setdefault("flightlog", []).append(
                    await _flightlog.batch_events(self.store, rows)
                )
            for name, seconds in (await self.ceilings("events", _data.EVENT_COLUMNS, raw)).items():
                timings.setdefault(name, []).append(seconds)
            if not r % 2:
                timings.setdefault("flightlog", []).append(
                    await _flightlog.batch_events(self.store, rows)
                )
            self.events_in_table += len(rows) * len(timings)
        n = self.plan.growth_rows
        medians = {name: statistics.median(values) for name, values in timings.items()}
        ceilings = {name: n / s for name, s in medians.items() if name != "flightlog"}
        best = max(ceilings.values())
        self.record(
            case(
                f"events: Flightlog ingest_events at {at_start:,} rows",
                n,
                medians["flightlog"],
                ceiling=best,
                target_ratio=0.7,
                ceilings={name: round(rate, 1) for name, rate in ceilings.items()},
                rounds=timings["flightlog"],
            )
        )
        if self.raw_events_early:
            self.record(
                case(
                    f"events: growth of the raw ceiling itself ({at_start:,} rows "
                    "vs the first rounds)",
                    n,
                    n / best,
                    ceiling=self.raw_events_early,
                    reference="best raw rate in the events rounds near 0 rows",
                )
            )
        self.diagnostics = await self.database_diagnostics()

    async def database_diagnostics(self) -> dict[str, Any]:
        """What the database did while the events table grew (explains the growth figures)."""
        if self.db.dialect == "sqlite":
            conn = self.db.sqlite()
            try:
                pragma = {
                    k: conn.execute(f"PRAGMA {k}").fetchone()[0]
                    for k in ("page_size", "cache_size", "page_count")
                }
            finally:
                conn.close()
            pragma["database_mb"] = round(pragma["page_size"] * pragma["page_count"] / 2**20)
            return pragma
        with self.db.psycopg() as conn:
            table = conn.execute(
                "SELECT n_live_tup, autovacuum_count, autoanalyze_count, "
                "pg_size_pretty(pg_relation_size('events')), "
                "pg_size_pretty(pg_indexes_size('events')) "
                "FROM pg_stat_user_tables WHERE relname = 'events'"
            ).fetchone()
            writer = conn.execute(
                "SELECT checkpoints_timed, checkpoints_req, buffers_checkpoint, buffers_backend "
                "FROM pg_stat_bgwriter"
            ).fetchone()
            settings = dict(
                conn.execute(
                    "SELECT name, current_setting(name) FROM pg_settings WHERE name IN "
                    "('shared_buffers', 'max_wal_size', 'synchronous_commit', 'checkpoint_timeout')"
                ).fetchall()
            )
        keys = ("live_rows", "autovacuums", "autoanalyzes", "heap_size", "index_size")
        server_keys = (
            "checkpoints_timed",
            "checkpoints_requested",
            "buffers_checkpoint",
            "buffers_backend",
        )
        return {
            "events": dict(zip(keys, table or (), strict=False)),
            "server_since_start": dict(zip(server_keys, writer or (), strict=False)),
            "settings": settings,
        }

    async def peak_rss(self) -> None:
        rows = self.plan.rss_rows
        fixture_file = _write_json_file(fixture_to_json(self.fx))
        url = self.db.settings.database_url
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks._rss",
            fixture_file,
            url,
            str(self.next_event),
            str(rows),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        _remove(fixture_file)
        if proc.returncode != 0:
            raise RuntimeError(f"RSS subprocess failed: {err.decode()[-2000:]}")
        result = json.loads(out.decode().strip().splitlines()[-1])
        self.next_event += rows
        self.events_in_table += rows
        peak = result["peak_rss_mb"]
        self.record(
            Case(
                name=f"events: peak RSS streaming {rows:,} events through ingest_events",
                rows=rows,
                seconds=round(result["seconds"], 3),
                rate=round(rows / result["seconds"], 1),
                target="<= 300 MB",
                met=peak <= 300,
                extra=result,
            )
        )

    async def listing_data(self) -> Store:
        async with self.store.transaction() as s:
            customer = await s.run_sync(
                create_customer, name="Listing tenant", email="listing@bench.test"
            )
        for tasks, runs in _data.listing(
            self.db.dialect, customer.id, self.plan.list_tasks, self.plan.list_runs
        ):
            await _fill.fill(self.db, "tasks", _data.TASK_COLUMNS, tasks)
            await _fill.fill(self.db, "task_runs", _data.RUN_COLUMNS, runs)
        return Store(self.store.engine, self.store.settings, customer.id)

    async def analyze(self) -> None:
        """PostgreSQL: refresh planner statistics, as autovacuum would after bulk loads."""
        if self.db.dialect == "postgresql":
            with self.db.psycopg() as conn:
                conn.autocommit = True
                conn.execute("ANALYZE")


def _write_json_file(content: Any) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(content, handle)
    return handle.name


def _remove(path: str) -> None:
    Path(path).unlink(missing_ok=True)

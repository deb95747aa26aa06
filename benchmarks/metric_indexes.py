"""Metric ingest and plans before and after migration 0007 (issue 13, item 5).

``.venv/bin/python -m benchmarks.metric_indexes --dialect both [--quick] [--repeats 2]``

0007 drops ``ix_metric_points_name_recorded`` and ``ix_metric_points_recorded_at``.
Per dialect and repeat, two fresh throwaway databases at head, one of them given
the two indexes back as 0007's downgrade creates them (the 0006 schema; a Store
opens only a database at head), measured in alternating order: the
metric phase of ``benchmarks.run`` (raw ceilings and ``ingest_metrics`` alternate on
the same table, ``ratio_rounds`` rounds of ``ratio_rows`` points), then, on the
table those rounds filled, the plans of the metric reads and of the purge's batch
query. Prints the plans and a table; writes ``results/<date>-metric-indexes.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import statistics
from collections.abc import Sequence
from datetime import date
from typing import Any

from rich.panel import Panel
from rich.table import Table
from sqlalchemy import func, select

from benchmarks import _data
from benchmarks._databases import Database, server_version, throwaway
from benchmarks._phases import ROOT, DialectRun, console
from benchmarks._plan import FULL, QUICK, Plan
from benchmarks._reads import ReadCase, measure, measure_purge_batches
from benchmarks._report import RESULTS, as_dict, machine, versions
from flightlog.models import MetricPoint
from flightlog.store import open_store

#: The schema before the change and after it.
REVISIONS = {"0006": "before (0006: with the two global indexes)", "head": "after (0007)"}
MIGRATION = ROOT / "src/flightlog/migrations/versions/0007_drop_global_metric_indexes.py"


def _dropped_indexes() -> list[tuple[str, list[str]]]:
    """(name, columns) of the indexes 0007 drops, read from the migration itself."""
    spec = importlib.util.spec_from_file_location("migration_0007", MIGRATION)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.DROPPED)


async def _restore_dropped(db: Database) -> None:
    """The 0006 schema: the two indexes as 0007's downgrade creates them."""
    statements = [
        f"CREATE INDEX {name} ON metric_points ({', '.join(columns)})"
        for name, columns in _dropped_indexes()
    ]
    if db.dialect == "sqlite":
        conn = db.sqlite()
        try:
            for sql in statements:
                conn.execute(sql)
        finally:
            conn.close()
        return
    with db.psycopg() as pg:
        for sql in statements:
            pg.execute(sql)


async def one_database(dialect: str, revision: str, plan: Plan) -> dict[str, Any]:
    """The metric phase and the metric/purge plans on one fresh database at ``revision``."""
    async with throwaway(dialect) as db:
        if revision == "0006":
            await _restore_dropped(db)
        server = server_version(db)
        async with open_store(
            db.settings.database_url, settings=db.settings, upgrade=False
        ) as store:
            fx = await _data.create_fixture(
                store, task_count=plan.tasks, big_share=plan.big_task_share
            )
            bench = DialectRun(db, store, fx, plan)
            await bench.ratio_rounds("metrics")
            await bench.analyze()
            reads: list[ReadCase] = []

            async def add(case: ReadCase) -> None:
                reads.append(case)

            async def series(i: int) -> Any:
                return await store.metrics.series("latency_ms", task_id=fx.tasks[0], limit=1000)

            async def summary(i: int) -> Any:
                return await store.metrics.summarize(task_id=fx.tasks[0])

            async with store.reader() as s:
                points = int(await s.scalar(select(func.count(MetricPoint.id))) or 0)
            iterations = max(5, plan.read_iterations // 4)
            await add(
                await measure(
                    store,
                    "metric series, 1,000 points of one name",
                    series,
                    iterations=iterations,
                    table_rows=points,
                )
            )
            await add(
                await measure(
                    store,
                    "metric summary of a task (all names)",
                    summary,
                    iterations=max(3, iterations // 10),
                    table_rows=points,
                )
            )
            await measure_purge_batches(store, iterations=iterations, on_case=add)
    flightlog = next(c for c in bench.cases if "Flightlog" in c.name)
    return {
        "revision": revision,
        "server": server,
        "raw_rate": flightlog.ceiling_rate,
        "flightlog_rate": flightlog.rate,
        "ratio": flightlog.ratio,
        "cases": as_dict(bench.cases),
        "reads": [
            {"name": r.name, "rows": r.table_rows, "p50_ms": r.p50_ms, "p95_ms": r.p95_ms}
            for r in reads
        ],
        "plans": {r.name: r.plans for r in reads},
    }


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(float(r[key]) for r in runs))


def summary_table(results: dict[str, dict[str, list[dict[str, Any]]]]) -> Table:
    table = Table(title="metric batch ingest before/after migration 0007 (medians of repeats)")
    for column in ("dialect", "schema", "raw rows/s", "Flightlog rows/s", "ratio to raw"):
        table.add_column(column)
    for dialect, by_revision in results.items():
        for revision, runs in by_revision.items():
            table.add_row(
                dialect,
                REVISIONS[revision],
                f"{_median(runs, 'raw_rate'):,.0f}",
                f"{_median(runs, 'flightlog_rate'):,.0f}",
                f"{_median(runs, 'ratio'):.2f}x",
            )
        before, after = by_revision["0006"], by_revision["head"]
        table.add_row(
            dialect,
            "after / before",
            f"{_median(after, 'raw_rate') / _median(before, 'raw_rate'):.2f}x",
            f"{_median(after, 'flightlog_rate') / _median(before, 'flightlog_rate'):.2f}x",
            f"Flightlog after / raw before: "
            f"{_median(after, 'flightlog_rate') / _median(before, 'raw_rate'):.2f}x",
        )
    return table


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.metric_indexes", description=__doc__
    )
    parser.add_argument("--dialect", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--quick", action="store_true", help="the smoke run's sizes")
    parser.add_argument("--repeats", type=int, default=2, help="fresh database pairs per dialect")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    dialects = ("sqlite", "postgresql") if args.dialect == "both" else (args.dialect,)
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for dialect in dialects:
        results[dialect] = {revision: [] for revision in REVISIONS}
        for repeat in range(args.repeats):
            order = list(REVISIONS) if repeat % 2 == 0 else list(reversed(REVISIONS))
            for revision in order:
                console.log(f"{dialect}: repeat {repeat + 1}, schema {REVISIONS[revision]}")
                run = await one_database(dialect, revision, plan)
                results[dialect][revision].append(run)
                if repeat == 0:
                    for name, plans in run["plans"].items():
                        for text in plans:
                            title = f"{dialect} {REVISIONS[revision]}: {name}"
                            console.print(Panel(text, title=title, expand=False))
                for read in run["reads"]:
                    console.log(
                        f"{dialect} {revision} {read['name']}: "
                        f"p50 {read['p50_ms']:.1f} ms, p95 {read['p95_ms']:.1f} ms"
                    )
    console.print(summary_table(results))
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = "-quick" if args.quick else ""
    path = RESULTS / f"{date.today().isoformat()}-metric-indexes{suffix}.json"
    report = {
        "date": date.today().isoformat(),
        "mode": plan.name,
        "command": ".venv/bin/python -m benchmarks.metric_indexes --dialect both"
        + (" --quick" if args.quick else "")
        + f" --repeats {args.repeats}",
        "machine": machine(),
        "versions": versions(""),
        "results": results,
    }
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    console.log(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))

"""Run the suite: ``.venv/bin/python -m benchmarks.run --dialect both [--quick]``.

Per dialect, in one fresh throwaway database: the raw-driver ceilings and
Flightlog's batch ingest alternate on the same tables; buffered appends are
compared with batch ingest; ingest is sampled as the events table grows to
the plan's sizes; peak RSS is measured in a subprocess; then the read paths
are timed at size and their plans printed. Results go to
``benchmarks/results/<date>-<dialect>.json`` and the README's table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from rich.panel import Panel
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import func, select

from benchmarks import _data
from benchmarks._databases import server_version, throwaway
from benchmarks._phases import ROOT, DialectRun, console
from benchmarks._plan import FULL, QUICK, Plan
from benchmarks._reads import ReadCase, measure_reads
from benchmarks._report import (
    RESULTS,
    Case,
    as_dict,
    machine,
    update_readme,
    versions,
    write_json,
)
from flightlog.models import Event
from flightlog.store import open_store

COMMAND = ".venv/bin/python -m benchmarks.run --dialect both"


def read_case(r: ReadCase) -> Case:
    return Case(
        name=r.name,
        rows=r.table_rows,
        target=f"p95 <= {r.target_ms:g} ms" if r.target_ms is not None else None,
        met=r.met,
        extra={"p50_ms": r.p50_ms, "p95_ms": r.p95_ms, "iterations": r.iterations},
    )


async def run_dialect(dialect: str, plan: Plan, step: Callable[[str], None]) -> dict[str, Any]:
    step(f"{dialect}: creating a throwaway database")
    async with throwaway(dialect) as db:
        server = server_version(db)
        async with open_store(
            db.settings.database_url, settings=db.settings, upgrade=False
        ) as store:
            step(f"{dialect}: tasks, runs and agent runs for the rows to refer to")
            fx = await _data.create_fixture(
                store, task_count=plan.tasks, big_share=plan.big_task_share
            )
            bench = DialectRun(db, store, fx, plan)
            async with store.reader() as s:
                bench.events_in_table = int(await s.scalar(select(func.count(Event.id))) or 0)
            step(f"{dialect}: growth sample on an empty table")
            at_zero = await bench.growth_sample(0, None)
            step(f"{dialect}: events, raw ceilings vs Flightlog")
            await bench.ratio_rounds("events")
            step(f"{dialect}: growth sample at {plan.growth_sizes[1]:,} rows")
            await bench.growth_sample(1, at_zero)
            step(f"{dialect}: metric points, raw ceilings vs Flightlog")
            await bench.ratio_rounds("metrics")
            step(f"{dialect}: buffered appends vs batch")
            await bench.appender_rounds()
            step(f"{dialect}: HTTP API event ingest vs batch")
            await bench.http_rounds()
            step(f"{dialect}: peak RSS of a {plan.rss_rows:,}-event stream (subprocess)")
            await bench.peak_rss()
            step(f"{dialect}: filling to {plan.growth_sizes[-1]:,} events, growth sample")
            await bench.growth_sample(len(plan.growth_sizes) - 1, at_zero)
            await bench.ceiling_at_size()
            step(f"{dialect}: task list data ({plan.list_tasks:,} tasks, {plan.list_runs:,} runs)")
            listing = await bench.listing_data()
            await bench.analyze()
            step(f"{dialect}: read paths")
            reads = await measure_reads(
                store,
                listing,
                fx,
                depth=plan.keyset_depth,
                table_rows=bench.events_in_table,
                list_size=(plan.list_tasks, plan.list_runs),
                iterations=plan.read_iterations,
                on_case=lambda r: bench.record(read_case(r)),
            )
    for r in reads:
        for plan_text in r.plans:
            console.print(Panel(plan_text, title=f"{dialect}: {r.name}", expand=False))
    return {
        "date": date.today().isoformat(),
        "dialect": dialect,
        "mode": plan.name,
        "command": COMMAND + (" --quick" if plan is QUICK else ""),
        "machine": machine(),
        "versions": versions(server),
        "cases": as_dict(bench.cases),
        "fill_seconds": round(bench.fill_seconds, 1),
        "diagnostics": bench.diagnostics,
        "plans": {r.name: r.plans for r in reads},
    }


def summary(reports: list[dict[str, Any]]) -> Table:
    table = Table(title="Flightlog benchmarks")
    for column in ("dialect", "case", "rate", "ratio / latency", "target", ""):
        table.add_column(column)
    for report in reports:
        for c in report["cases"]:
            extra = c["extra"]
            measured = (
                f"p50 {extra['p50_ms']:.1f} / p95 {extra['p95_ms']:.1f} ms"
                if "p95_ms" in extra
                else f"{extra['peak_rss_mb']:.0f} MB"
                if "peak_rss_mb" in extra
                else f"{c['ratio']:.2f}x"
                if c["ratio"] is not None
                else ""
            )
            rate = f"{c['rate']:,.0f}/s" if c["rate"] is not None else ""
            mark = {True: "[green]met[/]", False: "[red]missed[/]", None: ""}[c["met"]]
            table.add_row(report["dialect"], c["name"], rate, measured, c["target"] or "", mark)
    return table


def latest_full_reports() -> list[dict[str, Any]]:
    """The newest full-run result of each dialect, for the README table."""
    newest: dict[str, Path] = {}
    for path in sorted(RESULTS.glob("*.json")):
        if not path.stem.endswith("-quick"):
            newest[path.stem.split("-", 3)[-1]] = path
    return [json.loads(newest[d].read_text()) for d in ("sqlite", "postgresql") if d in newest]


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--dialect", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--quick", action="store_true", help="small sizes: a smoke run in under a minute"
    )
    parser.add_argument("--no-readme", action="store_true", help="do not rewrite the README table")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    dialects = ("sqlite", "postgresql") if args.dialect == "both" else (args.dialect,)
    reports = []
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("starting", total=11 * len(dialects))

        def step(description: str) -> None:
            progress.update(task, description=description, advance=1)

        for dialect in dialects:
            report = await run_dialect(dialect, plan, step)
            path = write_json(report, quick=args.quick)
            console.log(f"wrote {path.relative_to(ROOT)}")
            reports.append(report)
        progress.update(task, completed=11 * len(dialects), description="done")
    console.print(summary(reports))
    if not args.quick and not args.no_readme:
        update_readme(latest_full_reports(), COMMAND)
        console.log("updated benchmarks/README.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))

"""OTLP/HTTP span ingest next to the database's own limit, and how soon spans reach the stream.

``.venv/bin/python -m benchmarks.otlp --dialect both [--quick] [--profile]``

Per dialect, each case in a fresh throwaway database (see ``_databases``):

1. **Through a real server**: ``flightlog serve`` in a child process on
   loopback; 100,000 GenAI spans (``_otlp_traces``: agent, chat and tool spans
   of multi-agent traces, in export order) as protobuf
   ``ExportTraceServiceRequest`` bodies of 512 spans, built before the clock
   starts, posted by 1 and by 4 concurrent httpx senders to one server
   process (``--workers 1``), and by 4 to two (``--workers 2``). Timed from the
   first POST to the last 200; every answer is checked (no rejected spans)
   and afterwards every span is in the ledger, none waiting.
2. **In-process**: the same through the ASGI app (no sockets), 1 sender.
3. **The raw ceiling**: the rows case 1 wrote (sessions, runs, agent runs,
   events, ledger rows; read back from its database) inserted into a fresh
   database by the raw driver's best path: asyncpg ``copy_records_to_table``
   and psycopg ``COPY`` (the faster is the ceiling) on PostgreSQL, ``sqlite3``
   ``executemany`` in one transaction on SQLite. Best of a few rounds; the
   tasks and customer they refer to are loaded untimed.
4. **The bare ceiling through HTTP**: :mod:`benchmarks._otlp_ceiling`, a bare
   ASGI app with 2 workers, the same requests from 4 senders, decoded with the
   official classes, and per request the rows case 1 wrote for the traces it
   completes, by the raw driver: what ingest could reach here if mapping cost
   nothing.
5. **Live-stream latency**: on case 1's server, two clients follow
   ``GET /api/v1/events/stream`` (poll 0.5 s, the default, and 0.25 s, the
   least allowed) while one trace per request is posted at 5 requests/s;
   per event, the time from its POST starting to its arrival on the stream.

``--profile`` also runs the in-process path under cProfile and prints where
the time goes. Results go to ``benchmarks/results/<date>-otlp[-quick].json``
and (full runs) the OTLP table in ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pickle
import pstats
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from benchmarks import _otlp_paths as paths
from benchmarks import _otlp_traces as traces
from benchmarks._databases import Database, server_version, throwaway
from benchmarks._otlp_ceiling import TraceRows
from benchmarks._report import RESULTS, Case, as_dict, case, machine, replace_readme_block, versions
from flightlog.api import create_app
from flightlog.store import open_store

console = Console()
COMMAND = ".venv/bin/python -m benchmarks.otlp --dialect both"
TARGET_RATE = 10_000.0
TARGET_P95_MS = 1000.0


@dataclass(frozen=True)
class Plan:
    spans: int
    #: (server processes, concurrent senders) of each case through ``flightlog serve``.
    servers: tuple[tuple[int, int], ...]
    ceiling_rounds: int
    latency_traces: int
    latency_rate: float = 5.0


SERVERS = ((1, 1), (1, 4), (2, 4))
FULL = Plan(spans=100_000, servers=SERVERS, ceiling_rounds=3, latency_traces=100)
QUICK = Plan(spans=10_000, servers=SERVERS, ceiling_rounds=2, latency_traces=20)


async def _key(db: Database) -> str:
    async with open_store(db.settings.database_url, settings=db.settings, upgrade=False) as store:
        return (await store.api_keys.create("otlp benchmark")).key


def _counts(db: Database) -> dict[str, int]:
    """Ledger rows, waiting spans and span events: the check that everything was recorded."""
    queries = {
        "ledger": "SELECT count(*) FROM otlp_spans",
        "waiting": "SELECT count(*) FROM otlp_spans WHERE pending IS NOT NULL",
        "events": "SELECT count(*) FROM events WHERE span_id IS NOT NULL",
        "agent_runs": "SELECT count(*) FROM agent_runs",
        "runs_open": "SELECT count(*) FROM task_runs WHERE completed_at IS NULL",
    }
    return dict(zip(queries, _scalars(db, list(queries.values())), strict=True))


def _checked(db: Database, spans: int) -> dict[str, int]:
    counts = _counts(db)
    trace_count = spans // traces.SPANS_PER_TRACE
    expected = {
        "ledger": spans,
        "waiting": 0,
        "events": trace_count * traces.EVENTS_PER_TRACE,
        "runs_open": 0,
    }
    wrong = {k: (counts[k], v) for k, v in expected.items() if counts[k] != v}
    if wrong:
        raise RuntimeError(f"the record is not what the spans describe: {wrong}")
    return counts


def _max_event_id(db: Database) -> int:
    return _scalars(db, ["SELECT coalesce(max(id), 0) FROM events"])[0]


def _scalars(db: Database, queries: list[str]) -> list[int]:
    """The integer each query returns, read by the raw driver."""
    if db.dialect == "postgresql":
        with db.psycopg() as pconn:
            return [int(pconn.execute(q).fetchone()[0]) for q in queries]  # type: ignore[index]
    sconn = db.sqlite()
    try:
        return [int(sconn.execute(q).fetchone()[0]) for q in queries]
    finally:
        sconn.close()


def stream_latency(db: Database, server: paths.Server, key: str, plan: Plan) -> list[Case]:
    """Per span event, POST start to arrival on the stream, for two poll intervals."""
    followers = [paths.Follower(server.base, key, _max_event_id(db), poll) for poll in (0.5, 0.25)]
    threads = [threading.Thread(target=f.run, daemon=True) for f in followers]
    for thread in threads:
        thread.start()
    for follower in followers:
        if not follower.connected.wait(30):
            raise RuntimeError("the event stream did not answer")
    time.sleep(1.0)  # both streams past their first poll
    posted: dict[str, float] = {}
    request_ms: list[float] = []
    headers = {"Authorization": f"Bearer {key}", "Content-Type": paths.PROTOBUF}
    with httpx.Client(base_url=server.base, timeout=60) as client:
        next_at = time.monotonic()
        for body, span_ids in traces.trace_bodies(seed=9_999, traces=plan.latency_traces):
            time.sleep(max(0.0, next_at - time.monotonic()))
            started = time.monotonic()
            paths.check_export(client.post("/v1/traces", content=body, headers=headers))
            request_ms.append((time.monotonic() - started) * 1000)
            posted.update(dict.fromkeys(span_ids, started))
            next_at = started + 1 / plan.latency_rate
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(len(f.arrived) < len(posted) for f in followers):
        time.sleep(0.05)
    results = []
    for follower in followers:
        follower.stop.set()
        lost = len(posted) - len(set(posted) & set(follower.arrived))
        if lost:
            raise RuntimeError(f"{lost} span events never reached the stream")
        latencies = [(follower.arrived[s] - at) * 1000 for s, at in posted.items()]
        p50, p95, p99 = (paths.percentile(latencies, q) for q in (0.5, 0.95, 0.99))
        results.append(
            Case(
                name=f"live stream: POST start to event on the stream "
                f"(poll_seconds={follower.poll_seconds:g}, {plan.latency_rate:g} traces/s)",
                rows=len(latencies),
                target=f"p95 <= {TARGET_P95_MS:g} ms",
                met=p95 <= TARGET_P95_MS,
                extra={
                    "p50_ms": round(p50, 1),
                    "p95_ms": round(p95, 1),
                    "p99_ms": round(p99, 1),
                    "max_ms": round(max(latencies), 1),
                    "request_p50_ms": round(paths.percentile(request_ms, 0.5), 1),
                    "request_p95_ms": round(paths.percentile(request_ms, 0.95), 1),
                },
            )
        )
    return results


async def through_server(
    dialect: str,
    bodies: Sequence[bytes],
    spans: int,
    workers: int,
    senders: int,
    plan: Plan,
    log: Path,
) -> tuple[Case, list[Case], paths.Rows | None]:
    """Case 1 (and, for one process and one sender, the stream latency and the ceiling's rows)."""
    async with throwaway(dialect) as db:
        key = await _key(db)
        server = await asyncio.to_thread(paths.Server, db, log, workers)
        try:
            async with httpx.AsyncClient(base_url=server.base, timeout=600) as client:
                seconds = await paths.send(client, key, bodies, senders)
            counts = _checked(db, spans)
            latency: list[Case] = []
            rows = None
            if (workers, senders) == (1, 1):
                rows = await paths.read_rows(db, (*paths.PREREQUISITES, *paths.WRITTEN))
                latency = await asyncio.to_thread(stream_latency, db, server, key, plan)
        finally:
            server.stop()
    processes = f"--workers {workers}"
    name = (
        f"OTLP spans, flightlog serve {processes} over loopback, "
        f"{senders} sender{'s' * (senders > 1)}"
    )
    return case(name, spans, seconds, requests=len(bodies), **counts), latency, rows


async def in_process(
    dialect: str, bodies: Sequence[bytes], spans: int, profile: bool
) -> tuple[Case, str | None]:
    """Case 2: the ASGI app in this process, one sender; optionally under cProfile."""
    async with throwaway(dialect) as db:
        async with open_store(
            db.settings.database_url, settings=db.settings, upgrade=False
        ) as store:
            key = (await store.api_keys.create("otlp benchmark")).key
            app = create_app(db.settings, engine=store.engine, dashboard=False)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                profiler = cProfile.Profile() if profile else None
                if profiler is not None:
                    profiler.enable()
                seconds = await paths.send(client, key, bodies, 1)
                if profiler is not None:
                    profiler.disable()
        counts = _checked(db, spans)
    report = None
    if profiler is not None:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).strip_dirs()
        stats.sort_stats("tottime").print_stats(35)
        stats.sort_stats("cumulative").print_stats(60)
        report = out.getvalue()
    name = "OTLP spans, ASGI app in-process (no sockets), 1 sender"
    return case(name, spans, seconds, requests=len(bodies), **counts), report


async def ceilings(dialect: str, rows: paths.Rows, spans: int, rounds: int) -> list[Case]:
    """Case 3: the raw drivers write the same rows into a fresh database, best of ``rounds``."""
    paths_by_name: dict[str, Callable[[Database, paths.Rows], Any]] = (
        {"asyncpg copy_records_to_table": paths.ceiling_asyncpg,
         "psycopg COPY": paths.ceiling_psycopg}
        if dialect == "postgresql"
        else {"sqlite3 executemany": paths.ceiling_sqlite}
    )  # fmt: skip
    best: dict[str, float] = {}
    async with throwaway(dialect) as db:
        await paths.load_untimed(db, rows)
        for _ in range(rounds):
            for label, write in paths_by_name.items():
                result = write(db, rows)
                seconds = await result if asyncio.iscoroutine(result) else result
                best[label] = min(best.get(label, seconds), seconds)
                await paths.empty(db)
    written = {t: len(rows.rows[t]) for t in paths.WRITTEN}
    return [
        case(f"raw {label}, the same rows ({spans:,} spans' worth)", spans, s, written=written)
        for label, s in best.items()
    ]


async def bare_ceiling(
    dialect: str, rows: paths.Rows, bodies: Sequence[bytes], spans: int, log: Path
) -> Case:
    """Case 4: :mod:`benchmarks._otlp_ceiling` with 2 workers and 4 senders, like case 1's
    last: the same requests, decoded, and the same rows written per request, nothing else."""
    columns, grouped, untraced = paths.by_trace(rows)
    expected = {t: len(rows.rows[t]) for t in paths.WRITTEN}
    async with throwaway(dialect) as db:
        await paths.load_untimed(db, rows)
        with tempfile.TemporaryDirectory() as folder:
            dump = Path(folder) / "rows.pickle"
            dump.write_bytes(pickle.dumps(TraceRows(columns, grouped)))
            server = await asyncio.to_thread(paths.CeilingServer, db, dump, log, 2)
            try:
                async with httpx.AsyncClient(base_url=server.base, timeout=600) as client:
                    seconds = await paths.send(client, "unused", bodies, 4)
            finally:
                server.stop()
        found = dict(
            zip(
                paths.WRITTEN,
                _scalars(db, [f"SELECT count(*) FROM {t}" for t in paths.WRITTEN]),
                strict=True,
            )
        )
    missing = {t: expected[t] - found.get(t, 0) for t in paths.WRITTEN}
    # Every row of a trace is written; only rows that name no trace are left out.
    if sum(missing.values()) != untraced or min(missing.values()) < 0:
        raise RuntimeError(f"bare ceiling wrote {found}, expected {expected} less {untraced}")
    name = "bare ASGI + raw driver (ceiling), 2 workers over loopback, 4 senders"
    return case(name, spans, seconds, requests=len(bodies), left_out=untraced)


async def run_dialect(
    dialect: str, plan: Plan, profile: bool, step: Callable[[str], None]
) -> dict[str, Any]:
    step(f"{dialect}: building {plan.spans:,} spans as protobuf requests")
    bodies = traces.bodies(seed=1, spans=plan.spans)
    spans = round(plan.spans / traces.SPANS_PER_TRACE) * traces.SPANS_PER_TRACE
    log = Path(tempfile.gettempdir()) / f"flightlog-bench-otlp-{dialect}.log"
    flightlog_cases: list[Case] = []
    latency: list[Case] = []
    rows: paths.Rows | None = None
    for workers, senders in plan.servers:
        step(
            f"{dialect}: {spans:,} spans through flightlog serve --workers {workers}, "
            f"{senders} sender(s)"
        )
        measured, found_latency, found_rows = await through_server(
            dialect, bodies, spans, workers, senders, plan, log
        )
        flightlog_cases.append(measured)
        latency += found_latency
        rows = rows or found_rows
        console.log(f"{dialect}: {measured.name}: {measured.rate:,.0f} spans/s")
    step(f"{dialect}: {spans:,} spans through the ASGI app in-process")
    measured, profile_text = await in_process(dialect, bodies, spans, profile)
    flightlog_cases.append(measured)
    console.log(f"{dialect}: {measured.name}: {measured.rate:,.0f} spans/s")
    assert rows is not None
    step(f"{dialect}: raw-driver ceiling on the same rows")
    raw = await ceilings(dialect, rows, spans, plan.ceiling_rounds)
    ceiling = max(c.rate or 0.0 for c in raw)
    step(f"{dialect}: bare ASGI app and raw driver, the same requests and rows")
    bare = await bare_ceiling(dialect, rows, bodies, spans, log)
    console.log(f"{dialect}: {bare.name}: {bare.rate:,.0f} spans/s")
    cases = [*raw, bare]
    for c in flightlog_cases:
        again = case(c.name, c.rows, c.seconds or 0.0, ceiling=ceiling, **c.extra)
        again.target = f">= {TARGET_RATE:,.0f} spans/s"
        again.met = (again.rate or 0) >= TARGET_RATE
        cases.append(again)
    cases += latency
    if profile_text:
        console.print(profile_text)
    async with throwaway(dialect) as db:
        server = server_version(db)
    return {
        "date": date.today().isoformat(),
        "dialect": dialect,
        "mode": "quick" if plan is QUICK else "full",
        "command": COMMAND + (" --quick" if plan is QUICK else ""),
        "machine": machine(),
        "versions": versions(server),
        "spans_per_request": traces.SPANS_PER_REQUEST,
        "spans_per_trace": traces.SPANS_PER_TRACE,
        "request_bytes_mean": round(sum(map(len, bodies)) / len(bodies)),
        "cases": as_dict(cases),
        "profile": profile_text,
    }


def _measured(c: dict[str, Any]) -> str:
    extra = c["extra"]
    if "p95_ms" in extra:
        p50, p95, p99 = (extra[f"{q}_ms"] for q in ("p50", "p95", "p99"))
        return f"p50 {p50:.0f} ms, p95 {p95:.0f} ms, p99 {p99:.0f} ms"
    return f"{c['ratio']:.2f}x" if c.get("ratio") is not None else ""


def table_lines(reports: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| dialect | case | spans | rate | ceiling (same rows) | ratio / latency | target | |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    for report in reports:
        for c in report["cases"]:
            rate = (
                f"{c['rate']:,.0f}/s"
                if c["rate"] is not None and "p95_ms" not in c["extra"]
                else "—"
            )
            ceiling = f"{c['ceiling_rate']:,.0f}/s" if c.get("ceiling_rate") else "—"
            verdict = {True: "met", False: "**missed**", None: ""}[c["met"]]
            lines.append(
                f"| {report['dialect']} | {c['name']} | {c['rows']:,} | {rate} | {ceiling} | "
                f"{_measured(c)} | {c['target'] or ''} | {verdict} |"
            )
    return lines


def update_readme(reports: list[dict[str, Any]]) -> None:
    replace_readme_block("otlp", reports, COMMAND, table_lines(reports))


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.otlp", description=__doc__)
    parser.add_argument("--dialect", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--quick", action="store_true", help="10,000 spans: a try-out run")
    parser.add_argument("--profile", action="store_true", help="cProfile the in-process path")
    parser.add_argument("--no-readme", action="store_true", help="leave the README table alone")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    dialects = ("sqlite", "postgresql") if args.dialect == "both" else (args.dialect,)
    steps = (len(plan.servers) + 3) * len(dialects)
    reports = []
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("starting", total=steps)

        def step(description: str) -> None:
            progress.update(task, description=description, advance=1)

        for dialect in dialects:
            reports.append(await run_dialect(dialect, plan, args.profile, step))
        progress.update(task, completed=steps, description="done")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{date.today().isoformat()}-otlp{'-quick' if args.quick else ''}.json"
    out.write_text(json.dumps({"reports": reports}, indent=2, default=str) + "\n")
    console.log(f"wrote {out}")
    summary = Table(title="Flightlog OTLP ingest")
    for column in ("dialect", "case", "rate", "ratio / latency", "target", ""):
        summary.add_column(column)
    for report in reports:
        for c in report["cases"]:
            rate = f"{c['rate']:,.0f}/s" if c["rate"] and "p95_ms" not in c["extra"] else ""
            mark = {True: "[green]met[/]", False: "[red]missed[/]", None: ""}[c["met"]]
            summary.add_row(
                report["dialect"], c["name"], rate, _measured(c), c["target"] or "", mark
            )
    console.print(summary)
    if not args.quick and not args.no_readme and len(reports) == 2:
        update_readme(reports)
        console.log("updated benchmarks/README.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))

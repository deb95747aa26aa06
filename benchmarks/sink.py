"""The columnar sink against PostgreSQL (issue 16, item 4).

``.venv/bin/python -m benchmarks.sink [--quick]``

On a throwaway PostgreSQL database filled by COPY (untimed: 5,000,000 events, 200,000
task runs, 1,000,000 agent runs, 2,000,000 metric points over 30 days; ``--quick``
is 1/25 of it):

1. **Catch-up**: ``SinkWorker`` (what ``flightlog sink run`` runs) copies everything into
   a chdb sink in this process, timed: its rate in rows per second.
2. **Aggregates**: the dashboard's heavy aggregates, each 1 warm-up + 5 timed calls,
   median, on the sink (``flightlog.sink.aggregates``) and on PostgreSQL (the Store's
   own ``views.usage`` / ``run_outcomes`` / ``run_durations`` / ``metrics.names`` /
   ``metrics.buckets``) in the same run; the ratio is PostgreSQL's time over the sink's
   (target >= 10x), and every answer pair is checked equal.
3. **Lag under ingest**: a separate process ingests events through Flightlog's batch
   path (``store.events.ingest``, 10,000 per transaction) as fast as it can for 60 s
   (15 s quick) while the worker tails; every 0.5 s the ids drawn and the sink's
   position are sampled. Reported: ingest and sink rates, rows behind (p50/p95/max)
   and how long each sampled id took to reach the sink (p50/p95/max), then the time
   to catch up once ingest stops.

Writes ``results/<date>-sink[-quick].json`` and (full runs) the table in README.md.
Takes about 30 minutes on 2 cores (fill 7-9, catch-up 18, aggregates 2, lag 3); quick ~2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
from rich.console import Console

from benchmarks._databases import Database, server_version, throwaway
from benchmarks._report import README, RESULTS, machine, versions
from benchmarks._sink_fill import FULL, METRICS, QUICK, Filled, Scale, fill
from flightlog.db.engine import create_sync_engine
from flightlog.sink import aggregates
from flightlog.sink.backend import SinkBackend, open_backend
from flightlog.sink.schema import TABLES
from flightlog.sink.statements import optimize
from flightlog.sink.url import SinkUrl
from flightlog.sink.worker import SinkWorker
from flightlog.store import Store, open_store

console = Console()
HERE = Path(__file__).resolve().parent
START, END = "<!-- sink:start -->", "<!-- sink:end -->"
TARGET = 10.0


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if hasattr(value, "__dataclass_fields__"):
        found = {k: _plain(getattr(value, k)) for k in value.__dataclass_fields__}
        if isinstance(found.get("avg"), float):
            found["avg"] = round(found["avg"], 6)  # sums in another order
        return found
    return value


async def _timed(call: Callable[[], Awaitable[Any]], repeats: int) -> tuple[float, Any]:
    answer = await call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        answer = await call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), answer


async def aggregate_cases(
    store: Store, backend: SinkBackend, filled: Filled
) -> list[dict[str, Any]]:
    since = filled.since.replace(minute=0, second=0) + timedelta(hours=1)
    hourly = {"since": since, "bucket_seconds": 3600, "buckets": 24 * 29}
    customer = filled.customer
    series = {"bucket_seconds": 3600, "task_id": filled.tasks[0], "since": filled.since}
    cases: list[tuple[str, Callable[[], Awaitable[Any]], Callable[[], Any]]] = [
        (
            "cost and tokens by agent per hour, 29 days",
            lambda: store.views.usage(**hourly, by="agent"),
            lambda: aggregates.usage(backend, customer, **hourly),
        ),
        (
            "run outcomes per hour, 29 days",
            lambda: store.views.run_outcomes(**hourly),
            lambda: aggregates.run_outcomes(backend, customer, **hourly),
        ),
        (
            "run durations histogram, 30 days",
            lambda: store.views.run_durations(since=filled.since),
            lambda: aggregates.run_durations(backend, customer, since=filled.since),
        ),
        (
            "metric names of the customer",
            lambda: store.metrics.names(),
            lambda: aggregates.metric_names(backend, customer),
        ),
        (
            "metric series per hour over 30 days (one task)",
            lambda: store.metrics.buckets(METRICS[0], **series),
            lambda: aggregates.metric_buckets(backend, customer, METRICS[0], **series),
        ),
    ]
    found = []
    for name, on_database, on_sink in cases:
        database_seconds, expected = await _timed(on_database, 5)
        sink_seconds, answered = await _timed(lambda f=on_sink: asyncio.to_thread(f), 5)
        ratio = database_seconds / sink_seconds
        found.append(
            {
                "name": name,
                "postgresql_ms": round(database_seconds * 1000, 2),
                "sink_ms": round(sink_seconds * 1000, 2),
                "ratio": round(ratio, 1),
                "target": f">= {TARGET:g}x",
                "met": ratio >= TARGET,
                "same_answer": _plain(answered) == _plain(expected),
            }
        )
        console.print(found[-1])
    return found


def _ingest(db: Database, seconds: float) -> subprocess.Popen[str]:
    code = f"""
import asyncio, time, uuid
from flightlog.store import open_store
async def main():
    async with open_store({db.conninfo!r}, upgrade=False) as store:
        task = await store.tasks.create(title="ingest")
        end, sent = time.monotonic() + {seconds}, 0
        while time.monotonic() < end:
            batch = [{{"event_type": "LOG", "task_id": task.id, "content": f"line {{sent + n}}",
                       "data": {{"n": n}}}} for n in range(10_000)]
            sent += await store.events.ingest(batch)
        print(sent)
asyncio.run(main())
"""
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values) or [0.0]
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50": round(pick(0.5), 2), "p95": round(pick(0.95), 2), "max": round(ordered[-1], 2)}


def lag_under_ingest(db: Database, worker: SinkWorker, seconds: float) -> dict[str, Any]:
    """The worker tails (this thread) while another process ingests; a sampler notes lag."""
    samples: list[tuple[float, int, int]] = []  # (time, last id drawn, sink position)
    done = threading.Event()

    def sample() -> None:
        with psycopg.connect(db.conninfo, autocommit=True) as conn:
            sequence = conn.execute("SELECT pg_get_serial_sequence('events', 'id')").fetchone()
            assert sequence is not None
            while not done.is_set():
                row = conn.execute(f"SELECT last_value FROM {sequence[0]}").fetchone()
                assert row is not None
                samples.append((time.monotonic(), int(row[0]), worker.progress.tailed["events"]))
                done.wait(0.5)

    start_position = worker.progress.tailed["events"]
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    ingest = _ingest(db, seconds)
    started = time.monotonic()
    while ingest.poll() is None:
        report = worker.cycle()
        if report.caught_up:
            time.sleep(0.2)
    ingested = int((ingest.stdout.read() if ingest.stdout else "0").strip() or 0)
    ingest_seconds = time.monotonic() - started
    stopped = time.monotonic()
    while not worker.cycle().caught_up or worker.progress.tailed["events"] < samples[-1][1]:
        pass
    catch_up = time.monotonic() - stopped
    done.set()
    sampler.join()
    behind = [drawn - position for _, drawn, position in samples]
    delays = []
    for i, (moment, drawn, _) in enumerate(samples):
        later = next((t for t, _, position in samples[i:] if position >= drawn), None)
        if later is not None:
            delays.append(later - moment)
    copied = worker.progress.tailed["events"] - start_position
    return {
        "ingested_events": ingested,
        "ingest_rate": round(ingested / ingest_seconds),
        "sink_rate_during": round(copied / (ingest_seconds + catch_up)),
        "rows_behind": _percentiles([float(b) for b in behind]),
        "seconds_to_sink": _percentiles(delays),
        "catch_up_after_ingest_s": round(catch_up, 2),
    }


async def run(scale: Scale, quick: bool) -> dict[str, Any]:
    async with (
        throwaway("postgresql") as db,
        open_store(db.settings.database_url, settings=db.settings, upgrade=False) as store,
    ):
        started = time.perf_counter()
        filled = await fill(db, store, scale)
        console.print(f"filled {filled.rows} in {time.perf_counter() - started:.0f} s")
        directory = Path(tempfile.mkdtemp(prefix="flightlog-sink-bench-")) / "sink"
        backend = open_backend(SinkUrl.parse(f"chdb://{directory}"))
        engine = create_sync_engine(db.settings)
        worker = SinkWorker(backend, engine, batch_rows=50_000, retention_days=400)
        worker.start()
        started = time.perf_counter()
        copied = 0
        for report in worker.catch_up():
            copied += sum(report.copied.values())
        catch_up_seconds = time.perf_counter() - started
        console.print(f"sink caught up: {copied:,} rows in {catch_up_seconds:.0f} s")
        as_copied = await aggregate_cases(store, backend, filled)
        started = time.perf_counter()
        for table in TABLES:
            backend.command(optimize(backend.url.database, table))
        merge_seconds = time.perf_counter() - started
        cases = await aggregate_cases(store, backend, filled)
        for case, before in zip(cases, as_copied, strict=True):
            case["sink_ms_as_copied"] = before["sink_ms"]
            case["ratio_as_copied"] = before["ratio"]
        lag = lag_under_ingest(db, worker, 15 if quick else 60)
        console.print(lag)
        engine.dispose()
        backend.close()
        shutil.rmtree(directory.parent, ignore_errors=True)
        return {
            "date": date.today().isoformat(),
            "quick": quick,
            "machine": machine(),
            "versions": versions(server_version(db)) | {"chdb": _chdb_version()},
            "rows": filled.rows,
            "catch_up": {
                "rows": copied,
                "seconds": round(catch_up_seconds, 1),
                "rate": round(copied / catch_up_seconds),
            },
            "aggregates": cases,
            "merge_seconds": round(merge_seconds, 1),
            "lag_under_ingest": lag,
        }


def _chdb_version() -> str:
    import chdb

    return str(chdb.__version__)


def readme_table(report: dict[str, Any]) -> str:
    rows = report["rows"]
    lines = [
        f"Measured {report['date']} on {report['machine']['cpu']}, "
        f"{report['machine']['cores']} cores, with `python -m benchmarks.sink` "
        f"({rows['events']:,} events, {rows['agent_runs']:,} agent runs, "
        f"{rows['task_runs']:,} task runs, {rows['metric_points']:,} metric points; "
        f"{report['versions']['database']}, chdb {report['versions']['chdb']}). Sink times "
        f"after its parts were merged (`OPTIMIZE TABLE … FINAL`, {report['merge_seconds']} s, "
        "what background merges reach) and right after the catch-up (as copied).",
        "",
        "| aggregate | PostgreSQL (Store) | sink (chdb) | ratio | target | sink as copied "
        "| ratio as copied | same answer |",
        "|---|---:|---:|---:|---|---:|---:|---|",
    ]
    for case in report["aggregates"]:
        verdict = "met" if case["met"] else "**missed**"
        lines.append(
            f"| {case['name']} | {case['postgresql_ms']:,.1f} ms | {case['sink_ms']:,.1f} ms | "
            f"{case['ratio']:,.1f}x | {case['target']} {verdict} | "
            f"{case['sink_ms_as_copied']:,.1f} ms | {case['ratio_as_copied']:,.1f}x | "
            f"{case['same_answer']} |"
        )
    catch_up, lag = report["catch_up"], report["lag_under_ingest"]
    lines += [
        "",
        f"Catch-up from empty: {catch_up['rows']:,} rows in {catch_up['seconds']:,} s "
        f"({catch_up['rate']:,} rows/s). Under ingest at full batch speed "
        f"({lag['ingest_rate']:,} events/s through `store.events.ingest`): the sink copied "
        f"{lag['sink_rate_during']:,} events/s; rows behind p50 {lag['rows_behind']['p50']:,.0f}, "
        f"p95 {lag['rows_behind']['p95']:,.0f}, max {lag['rows_behind']['max']:,.0f}; an event "
        f"reached the sink p50 {lag['seconds_to_sink']['p50']} s, p95 "
        f"{lag['seconds_to_sink']['p95']} s, max {lag['seconds_to_sink']['max']} s after its id "
        f"was drawn; {lag['catch_up_after_ingest_s']} s to catch up once ingest stopped.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1/25 of the rows, 15 s of ingest")
    args = parser.parse_args()
    report = asyncio.run(run(QUICK if args.quick else FULL, args.quick))
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{report['date']}-sink{'-quick' if args.quick else ''}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    table = readme_table(report)
    console.print(table)
    if not args.quick:
        text = README.read_text()
        if START in text:
            before, rest = text.split(START, 1)
            text = before + START + "\n" + table + "\n" + END + rest.split(END, 1)[1]
            README.write_text(text)
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()

"""Read replicas: what a streaming standby takes off the primary, and what routing costs.

    .venv/bin/python -m benchmarks.replicas [--quick] [--no-readme]

PostgreSQL only (issue 16, item 2). A throwaway primary and a hot standby of
it streaming on loopback (``tests/pg_cluster.py``'s ``ReplicatedPair``, the
clusters the tests build), seeded with ``flightlog seed`` (medium: 500 tasks,
100,000 events; ``--quick``: small).

**Offload.** A writer process appends batches of 20 events as fast as it can
while 8 readers in this process run dashboard reads in turn (a page of the
task list, a run's timeline, a page of a task's events, the overview), for a
fixed time, with the Store's reads on the primary only and then with the
standby as its replica (alternating, ``repeats`` times). Reported: reads/s
and their p50/p99, the writer's events/s, and per 1,000 reads the primary's
CPU (its postmaster and every backend, from /proc), transactions and rows
read (``pg_stat_database``); the ratios are "with the replica" over "primary
only". Both clusters, the writer and the readers share this machine's cores,
so the read throughput says little about a real deployment; what the primary
was spared does.

**Cost of routing.** With no writer, one call at a time: the median of
``tasks.list(limit=20)`` on the primary (the baseline), on the replica as a
reader that wrote nothing (the replica's position is read at most once a
second), on the replica checked before every read (``replica_check_seconds=0``),
and right after a write of the same Store (the primary's WAL position, then the
replica's, then the read) beside the same write-then-read with no replica.
Each case has a Store of its own, and the cases take turns in 20 short rounds,
so that the machine's other load falls on all of them alike. Ratios are
baseline over case (1.0: no cost). Results go to
``benchmarks/results/<date>-replicas.json`` and the README's table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg
from rich.console import Console
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from benchmarks._phases import ROOT
from benchmarks._replica_load import backends_cpu_seconds, cluster_cpu_seconds, cpu_since
from benchmarks._report import RESULTS, machine, replace_readme_block, versions
from flightlog.db.engine import create_async_db_engine
from flightlog.db.replicas import READ_FROM, async_replicas
from flightlog.db.urls import DatabaseUrl
from flightlog.migrations.runner import Migrator
from flightlog.settings import Settings
from flightlog.store import Store
from flightlog.store.core import dispose_replicas

sys.path.insert(0, str(ROOT / "tests"))  # the same throwaway clusters the tests build
from pg_cluster import ReplicatedPair  # type: ignore[import-not-found,unused-ignore]  # tests/

console = Console()
COMMAND = "python -m benchmarks.replicas"
READERS = 8
#: The readers' application_name, by which their backends on the primary are found.
READER_NAME = "bench-readers"


@dataclass(frozen=True)
class Plan:
    size: str
    seconds: float
    repeats: int
    calls: int


FULL = Plan(size="medium", seconds=8.0, repeats=3, calls=2000)
QUICK = Plan(size="small", seconds=3.0, repeats=1, calls=200)


@dataclass(frozen=True)
class World:
    pair: ReplicatedPair
    primary: DatabaseUrl
    replica: DatabaseUrl
    customer: uuid.UUID
    task: uuid.UUID
    run: uuid.UUID
    write_task: uuid.UUID

    def conninfo(self, url: DatabaseUrl) -> str:
        return url.url.set(drivername="postgresql").render_as_string(hide_password=False)

    def settings(self, replicas: bool, **changes: Any) -> Settings:
        return Settings(
            database_url=self.conninfo(self.primary),
            database_replica_urls=self.conninfo(self.replica) if replicas else "",
            pool_size=READERS,
            **changes,
        )


def _build(plan: Plan) -> World:
    pair = ReplicatedPair()
    try:
        return _seeded(pair, plan)
    except BaseException:
        pair.remove()
        raise


def _seeded(pair: ReplicatedPair, plan: Plan) -> World:
    primary, replica = pair.create_database("flightlog")
    Migrator(Settings(), primary).upgrade("head")
    url = primary.url.render_as_string(hide_password=False)
    seed = [sys.executable, "-m", "flightlog", "seed", "--size", plan.size, "-d", url]
    subprocess.run(seed, check=True, capture_output=True)
    with psycopg.connect(url, autocommit=True) as conn:
        customer, task = _one(
            conn,
            "SELECT customer_id, id FROM tasks WHERE customer_id = "
            "(SELECT customer_id FROM tasks GROUP BY 1 ORDER BY count(*) DESC LIMIT 1) "
            "ORDER BY id LIMIT 1",
        )
        (run,) = _one(
            conn,
            "SELECT r.id FROM task_runs r JOIN tasks t ON t.id = r.task_id "
            "JOIN events e ON e.run_id = r.id "
            "WHERE t.customer_id = %s GROUP BY r.id ORDER BY count(*) DESC LIMIT 1",
            (customer,),
        )
        last = "SELECT id FROM tasks WHERE customer_id = %s ORDER BY id DESC LIMIT 1"
        (write_task,) = _one(conn, last, (customer,))
        conn.execute("VACUUM ANALYZE")
    pair.wait_replayed(timeout=300)
    return World(pair, primary, replica, customer, task, run, write_task)


def _one(conn: psycopg.Connection[Any], sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...]:
    row = conn.execute(sql, params).fetchone()
    assert row is not None, sql
    return tuple(row)


@asynccontextmanager
async def _store(world: World, *, replicas: bool, **changes: Any) -> AsyncIterator[Store]:
    settings = world.settings(replicas, **changes)
    engine = create_async_db_engine(settings)
    replica_set = async_replicas(settings)
    try:
        yield Store(engine, settings, world.customer, replicas=replica_set)
    finally:
        await engine.dispose()
        await dispose_replicas(replica_set)


def _reads(world: World) -> list[tuple[str, Callable[[Store], Awaitable[object]]]]:
    """The dashboard's reads, taken in turn by every reader."""
    return [
        ("task list page", lambda s: s.tasks.list(limit=50, total=True)),
        ("run timeline", lambda s: s.runs.timeline(world.run)),
        ("task events page", lambda s: s.events.list(task_id=world.task, limit=100)),
        ("overview", lambda s: s.views.overview()),
    ]


def _writer(world: World) -> subprocess.Popen[str]:
    """The writer process (benchmarks._replica_load), started; it waits for "go"."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks._replica_load",
            *("--url", world.conninfo(world.primary)),
            *("--customer", str(world.customer), "--task", str(world.write_task)),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


async def _offload_once(world: World, plan: Plan, *, replicas: bool) -> dict[str, Any]:
    """One timed window: the writer process and ``READERS`` readers, on one configuration."""
    writer = _writer(world)
    assert writer.stdin is not None
    assert writer.stdout is not None
    primary_db = world.conninfo(world.primary)
    try:
        assert json.loads(await asyncio.to_thread(writer.stdout.readline))["ready"]
        async with _store(world, replicas=replicas, application_name=READER_NAME) as store:
            sent = _count_statements(store)
            reads = _reads(world)
            for _, read in reads:  # warm every reader connection and statement
                await asyncio.gather(*(read(store) for _ in range(READERS)))
            latencies: list[float] = []
            sent.clear()
            readers_before = backends_cpu_seconds(primary_db, READER_NAME)
            cpu_before = (
                cluster_cpu_seconds(world.pair.primary.data),
                cluster_cpu_seconds(world.pair.replica.data),
            )
            writer.stdin.write("go\n")
            writer.stdin.flush()
            deadline = time.perf_counter() + plan.seconds

            async def reader(offset: int) -> None:
                turn = offset
                while time.perf_counter() < deadline:
                    started = time.perf_counter()
                    await reads[turn % len(reads)][1](store)
                    latencies.append(time.perf_counter() - started)
                    turn += 1

            started = time.perf_counter()
            await asyncio.gather(*(reader(n) for n in range(READERS)))
            elapsed = time.perf_counter() - started
            writer.stdin.close()
            written = json.loads(await asyncio.to_thread(writer.stdout.readline))
            cpu_after = (
                cluster_cpu_seconds(world.pair.primary.data),
                cluster_cpu_seconds(world.pair.replica.data),
            )
            readers_on_primary = cpu_since(
                readers_before, backends_cpu_seconds(primary_db, READER_NAME)
            )
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.wait()
    done = len(latencies)
    ordered = sorted(latencies)
    per_thousand = 1000 / max(done, 1)
    return {
        "replicas": replicas,
        "seconds": round(elapsed, 3),
        "reads": done,
        "reads_per_second": round(done / elapsed, 1),
        "p50_ms": round(1000 * ordered[len(ordered) // 2], 2),
        "p99_ms": round(1000 * ordered[int(len(ordered) * 0.99)], 2),
        "writer_events_per_second": round(written["events"] / written["seconds"], 1),
        "primary_cpu_seconds": round(cpu_after[0] - cpu_before[0], 2),
        "replica_cpu_seconds": round(cpu_after[1] - cpu_before[1], 2),
        "readers_primary_cpu_seconds": round(readers_on_primary, 3),
        "statements_to_primary": sent["primary"],
        "statements_to_replica": sent["replica"],
        "readers_primary_cpu_ms_per_1000_reads": round(1000 * readers_on_primary * per_thousand, 1),
        "statements_to_primary_per_1000_reads": round(sent["primary"] * per_thousand, 1),
        "primary_cpu_ms_per_second": round(1000 * (cpu_after[0] - cpu_before[0]) / elapsed, 1),
    }


def _count_statements(store: Store) -> Counter[str]:
    """Statements the Store sends, counted by server ("primary", "replica") as they go."""
    sent: Counter[str] = Counter()

    def counter(where: str) -> Callable[..., None]:
        def count(*_: object) -> None:
            sent[where] += 1

        return count

    event.listen(store.engine.sync_engine, "before_cursor_execute", counter("primary"))
    if store.replica_reads is not None:
        for replica in store.replica_reads.replicas.replicas:
            event.listen(replica.engine.sync_engine, "before_cursor_execute", counter("replica"))
    return sent


def _mean(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.fmean(run[key] for run in runs)


async def offload(world: World, plan: Plan) -> dict[str, Any]:
    runs: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    for _ in range(plan.repeats):
        for replicas in (False, True):
            runs[replicas].append(await _offload_once(world, plan, replicas=replicas))
            console.log(runs[replicas][-1])
    keys = (
        "reads_per_second",
        "p50_ms",
        "p99_ms",
        "writer_events_per_second",
        "readers_primary_cpu_ms_per_1000_reads",
        "statements_to_primary_per_1000_reads",
        "primary_cpu_ms_per_second",
    )
    summary = {
        name: {key: round(_mean(found, key), 2) for key in keys}
        for name, found in (("primary only", runs[False]), ("with the replica", runs[True]))
    }
    ratios = {
        key: round(summary["with the replica"][key] / summary["primary only"][key], 3)
        if summary["primary only"][key]
        else None
        for key in keys
    }
    return {"runs": runs[False] + runs[True], "summary": summary, "ratios": ratios}


async def _timed(call: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await call()
    return time.perf_counter() - started


async def _read_after_write(store: Store, world: World) -> float:
    """One read made right after a write of the same Store; only the read is timed."""
    await store.events.append({"task_id": world.write_task, "event_type": "LOG", "content": "x"})
    return await _timed(lambda: store.tasks.list(limit=20))


#: Each routing case, and the case it is compared with.
BASELINES = {
    "primary only": "primary only",
    "replica, reader that wrote nothing": "primary only",
    "replica, checked before every read": "primary only",
    "primary only, after a write": "primary only, after a write",
    "replica, after a write (position + check)": "primary only, after a write",
}
AFTER_WRITE = "replica, after a write (position + check)"


async def routing_cost(world: World, plan: Plan) -> list[dict[str, Any]]:
    """Medians of one read, sequential. The cases take turns in short rounds, each on a
    Store of its own, so that the machine's other load falls on all of them alike."""
    rounds = 20
    async with (
        _store(world, replicas=False) as plain,
        _store(world, replicas=False) as plain_writer,
        _store(world, replicas=True) as reader,
        _store(world, replicas=True, replica_check_seconds=0) as checked,
        _store(world, replicas=True) as writer,
    ):
        cases: dict[str, Callable[[], Awaitable[float]]] = {
            "primary only": lambda: _timed(lambda: plain.tasks.list(limit=20)),
            "replica, reader that wrote nothing": lambda: _timed(
                lambda: reader.tasks.list(limit=20)
            ),
            "replica, checked before every read": lambda: _timed(
                lambda: checked.tasks.list(limit=20)
            ),
            "primary only, after a write": lambda: _read_after_write(plain_writer, world),
            AFTER_WRITE: lambda: _read_after_write(writer, world),
        }
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(max(2, plan.calls // 100)):  # warm-up, not kept
            for case in cases.values():
                await case()
        served = _served_by(writer)
        try:
            for _ in range(rounds):
                for name, case in cases.items():
                    for _ in range(plan.calls // rounds):
                        samples[name].append(await case())
        finally:
            event.remove(Session, "after_transaction_end", served.note)
    medians = {name: 1000 * statistics.median(found) for name, found in samples.items()}
    found = [
        {
            "case": name,
            "median_ms": round(median, 4),
            "baseline_ms": round(medians[BASELINES[name]], 4),
            "overhead_ms": round(median - medians[BASELINES[name]], 4),
            "ratio": round(medians[BASELINES[name]] / median, 3),
        }
        for name, median in medians.items()
    ]
    after_write = next(c for c in found if c["case"] == AFTER_WRITE)
    after_write["served_by_the_replica"] = served.share()
    return found


class _ServedBy:
    """Where the routed reads of one Store ran: its replica or (fallen back) its primary."""

    def __init__(self, store: Store) -> None:
        assert store.replica_reads is not None
        self.engines = {
            store.replica_reads.replicas.replicas[0].engine.sync_engine: "replica",
            store.engine.sync_engine: "primary",
        }
        self.counts: Counter[str] = Counter()

    def note(self, session: Session, transaction: SessionTransaction) -> None:
        bind = session.bind
        if transaction.parent is None and READ_FROM in session.info and bind in self.engines:
            self.counts[self.engines[bind]] += 1

    def share(self) -> float:
        total = sum(self.counts.values())
        return round(self.counts["replica"] / total, 3) if total else 0.0


def _served_by(store: Store) -> _ServedBy:
    served = _ServedBy(store)
    event.listen(Session, "after_transaction_end", served.note)
    return served


def table_lines(report: dict[str, Any]) -> list[str]:
    off = report["offload"]
    primary, replica = off["summary"]["primary only"], off["summary"]["with the replica"]
    ratios = off["ratios"]
    rows = [
        ("reads/s (8 readers)", "reads_per_second", "{:,.0f}"),
        ("read p50", "p50_ms", "{:.1f} ms"),
        ("read p99", "p99_ms", "{:.1f} ms"),
        ("writer events/s (meanwhile)", "writer_events_per_second", "{:,.0f}"),
        (
            "primary CPU of the readers' backends per 1,000 reads",
            "readers_primary_cpu_ms_per_1000_reads",
            "{:,.0f} ms",
        ),
        (
            "statements sent to the primary per 1,000 reads",
            "statements_to_primary_per_1000_reads",
            "{:,.0f}",
        ),
        (
            "primary CPU, all of it (writer too), per second",
            "primary_cpu_ms_per_second",
            "{:,.0f} ms",
        ),
    ]
    lines = [
        "| offload (dashboard reads while a writer ingests) | primary only | with the replica "
        "| ratio |",
        "|---|---:|---:|---:|",
    ]
    for label, key, shape in rows:
        ratio = "—" if ratios[key] is None else f"{ratios[key]:.2f}x"
        lines.append(
            f"| {label} | {shape.format(primary[key])} | {shape.format(replica[key])} | {ratio} |"
        )
    lines += [
        "",
        "| cost of routing (one `tasks.list(limit=20)`, sequential) | median | baseline "
        "| overhead | ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for case in report["routing"]:
        lines.append(
            f"| {case['case']} | {case['median_ms']:.3f} ms | {case['baseline_ms']:.3f} ms "
            f"| {case['overhead_ms']:+.3f} ms | {case['ratio']:.2f}x |"
        )
    share = next(c for c in report["routing"] if c["case"] == AFTER_WRITE).get(
        "served_by_the_replica"
    )
    if share is not None:
        lines += ["", f"Reads right after a write served by the replica: {share:.0%}."]
    return lines


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.replicas", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small seed, 3 s windows, 1 repeat")
    parser.add_argument("--no-readme", action="store_true", help="leave the README table alone")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    with console.status("building a primary and a streaming standby, seeding"):
        world = await asyncio.to_thread(_build, plan)
    try:
        with psycopg.connect(world.conninfo(world.primary)) as conn:
            server = str(_one(conn, "SELECT version()")[0]).split(" on ")[0]
        report = {
            "dialect": "postgresql",
            "date": date.today().isoformat(),
            "machine": machine(),
            "versions": versions(server),
            "plan": plan.__dict__,
            "offload": await offload(world, plan),
            "routing": await routing_cost(world, plan),
        }
    finally:
        world.pair.remove()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{report['date']}-replicas{'-quick' if args.quick else ''}.json"
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    console.log(f"wrote {out}")
    lines = table_lines(report)
    console.print("\n".join(lines))
    if not args.quick and not args.no_readme:
        note = (
            f" (seed {plan.size}, {plan.seconds:g} s windows x {plan.repeats}, "
            f"{plan.calls:,} sequential calls per routing case)"
        )
        replace_readme_block("replicas", [report], COMMAND, lines, note=note)
        console.log("updated benchmarks/README.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))

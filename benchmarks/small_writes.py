"""One write at a time, in-process: Flightlog beside the raw driver doing the same transaction.

    .venv/bin/python -m benchmarks.small_writes --dialect both [--quick] [--no-readme]

Agents mostly write one thing at a time (issue 13). Per dialect, on a fresh
database, each case is timed call by call (sequential, one connection's worth
of work at a time) and reported as its median, beside a ceiling measured in
the same run on the same tables:

* **one event**: ``await store.events.append(event)`` on the async Store (and,
  for comparison, ``append_batch([event])``, the HTTP route's call, and the
  synchronous Store's ``append``), against the raw driver running the
  transaction the issue names: BEGIN, the customer's status, the task's
  ownership, the INSERT, COMMIT (sqlite3 / asyncpg). Target: >= 0.5x.
* **a status change**: ``runs.start`` + ``runs.finish`` of a run, against the
  raw driver replaying exactly the statements Flightlog sent for one such pair
  (recorded from the synchronous Store: sqlite3, or psycopg on PostgreSQL), with
  the task and run ids swapped for fresh ones. No target; reported.

Ratios are ceiling median over Flightlog median (higher is better, 1.0 is the
raw driver). Results go to ``benchmarks/results/<date>-small-writes.json`` and
(full runs of both dialects) to the table in ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import event as sa_event

from benchmarks._databases import Database, server_version, throwaway
from benchmarks._report import RESULTS, machine, replace_readme_block, versions
from flightlog import Store, SyncStore, open_store, open_store_sync

console = Console()
COMMAND = "python -m benchmarks.small_writes --dialect both"
EVENT = {"event_type": "LOG", "content": "tool call finished", "data": {"tool": "search", "n": 3}}


@dataclass(frozen=True)
class Plan:
    calls: int
    warmup: int


FULL = Plan(calls=3000, warmup=200)
QUICK = Plan(calls=300, warmup=30)


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 4)


async def _timed_async(call: Callable[[], Awaitable[object]], plan: Plan) -> float:
    for _ in range(plan.warmup):
        await call()
    samples = []
    for _ in range(plan.calls):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return _median_ms(samples)


def _timed_sync(call: Callable[[], object], plan: Plan) -> float:
    for _ in range(plan.warmup):
        call()
    samples = []
    for _ in range(plan.calls):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return _median_ms(samples)


def _case(
    name: str, flightlog_ms: float, ceiling_ms: float, ceiling: str, target: float | None
) -> dict[str, Any]:
    ratio = round(ceiling_ms / flightlog_ms, 3) if flightlog_ms else None
    met = None if target is None or ratio is None else ratio >= target
    return {
        "name": name,
        "median_ms": flightlog_ms,
        "ceiling_median_ms": ceiling_ms,
        "ceiling": ceiling,
        "ratio": ratio,
        "target": f">= {target}x" if target is not None else None,
        "met": met,
    }


# --- one event ------------------------------------------------------------------------------

#: The one-event cases run in this many rounds of blocks, taking turns (see ``_one_event``).
ROUNDS = 10

Block = Callable[[int], Awaitable[list[float]]]


def _sync_block(call: Callable[[], object]) -> Block:
    """``n`` timed calls of a synchronous ``call`` on a worker thread, after a short warm-up."""

    def samples(n: int) -> list[float]:
        for _ in range(_rewarm(n)):
            call()
        taken = []
        for _ in range(n):
            started = time.perf_counter()
            call()
            taken.append(time.perf_counter() - started)
        return taken

    async def block(n: int) -> list[float]:
        return await asyncio.to_thread(samples, n)

    return block


def _async_block(call: Callable[[], Awaitable[object]]) -> Block:
    """``n`` timed awaits of ``call`` on the event loop, after a short warm-up."""

    async def block(n: int) -> list[float]:
        for _ in range(_rewarm(n)):
            await call()
        taken = []
        for _ in range(n):
            started = time.perf_counter()
            await call()
            taken.append(time.perf_counter() - started)
        return taken

    return block


def _rewarm(n: int) -> int:
    """Untimed calls before a block: the case before it left other code in the CPU's caches."""
    return max(5, n // 10)


_RAW_INSERT = (
    "INSERT INTO events (customer_id, task_id, event_type, severity, content, data) "
    "VALUES ({marks})"
)


def _raw_sqlite_event(
    db: Database, customer: uuid.UUID, task: uuid.UUID
) -> tuple[Block, Callable[[], Awaitable[None]]]:
    conn = db.sqlite()
    insert = _RAW_INSERT.format(marks="?, ?, ?, ?, ?, ?")
    data = json.dumps(EVENT["data"])

    def one() -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("SELECT status FROM customers WHERE id = ?", (customer.hex,)).fetchone()
        conn.execute(
            "SELECT count(*) FROM tasks WHERE id = ? AND customer_id = ?", (task.hex, customer.hex)
        ).fetchone()
        conn.execute(insert, (customer.hex, task.hex, "LOG", "INFO", EVENT["content"], data))
        conn.execute("COMMIT")

    async def close() -> None:
        conn.close()

    return _sync_block(one), close


async def _raw_asyncpg_event(
    db: Database, customer: uuid.UUID, task: uuid.UUID
) -> tuple[Block, Callable[[], Awaitable[None]]]:
    conn = await db.asyncpg()
    insert = _RAW_INSERT.format(marks="$1, $2, $3, $4, $5, $6")
    data = json.dumps(EVENT["data"])

    async def one() -> None:
        async with conn.transaction():
            await conn.fetchval("SELECT status FROM customers WHERE id = $1", customer)
            await conn.fetchval(
                "SELECT count(*) FROM tasks WHERE id = $1 AND customer_id = $2", task, customer
            )
            await conn.execute(insert, customer, task, "LOG", "INFO", EVENT["content"], data)

    return _async_block(one), conn.close


async def _one_event(
    db: Database, store: Store, sync: SyncStore, plan: Plan
) -> list[dict[str, Any]]:
    """Flightlog's one-event calls and the ceiling, timed in turns.

    Each case runs ``ROUNDS`` blocks of calls, the cases taking turns block by
    block (ceiling, append, append_batch, synchronous append, then again), so
    that whatever else the machine does drifts over all of them alike; each
    median is over all of a case's calls.
    """
    task = await store.tasks.create(title="one event at a time")
    event = {**EVENT, "task_id": task.id}
    if db.dialect == "sqlite":
        ceiling, close = _raw_sqlite_event(db, store.customer_id, task.id)
        driver = "sqlite3"
    else:
        ceiling, close = await _raw_asyncpg_event(db, store.customer_id, task.id)
        driver = "asyncpg"
    blocks = {
        "ceiling": ceiling,
        "append": _async_block(lambda: store.events.append(event)),
        "batch": _async_block(lambda: store.events.append_batch([event])),
        "sync": _sync_block(lambda: sync.events.append(event)),
    }
    samples: dict[str, list[float]] = {name: [] for name in blocks}
    try:
        for block in blocks.values():
            await block(plan.warmup)
        for _ in range(ROUNDS):
            for name, block in blocks.items():
                samples[name] += await block(max(1, plan.calls // ROUNDS))
    finally:
        await close()
    ms = {name: _median_ms(taken) for name, taken in samples.items()}
    ceiling_name = f"{driver}: BEGIN, customer check, task check, INSERT, COMMIT"
    return [
        _case("one event: store.events.append", ms["append"], ms["ceiling"], ceiling_name, 0.5),
        _case(
            "one event: store.events.append_batch([e])",
            ms["batch"],
            ms["ceiling"],
            ceiling_name,
            None,
        ),
        _case("one event: SyncStore.events.append", ms["sync"], ms["ceiling"], ceiling_name, None),
    ]


# --- concurrent writers ---------------------------------------------------------------------


async def _concurrent(store: Store, writers: int, plan: Plan) -> dict[str, Any]:
    """``writers`` coroutines appending one event at a time: throughput and the tail."""
    task = await store.tasks.create(title=f"{writers} writers")
    event = {**EVENT, "task_id": task.id}
    each = max(1, plan.calls // writers)
    latencies: list[float] = []

    async def writer() -> None:
        for _ in range(each):
            started = time.perf_counter()
            await store.events.append(event)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(writers)))
    seconds = time.perf_counter() - started
    latencies.sort()
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    return {
        "name": f"{writers} concurrent writers: store.events.append",
        "writers": writers,
        "rate": round(len(latencies) / seconds, 1),
        "p50_ms": round(p50 * 1000, 3),
        "p99_ms": round(p99 * 1000, 3),
        "p99_over_p50": round(p99 / p50, 2),
    }


# --- a status change ------------------------------------------------------------------------


def _record_start_finish(sync: SyncStore) -> tuple[list[tuple[str, Any]], uuid.UUID, uuid.UUID]:
    """The statements one start + finish sends, with the task and run they were about."""
    task = sync.tasks.create(title="recorded")
    sent: list[tuple[str, Any]] = []

    def record(_c: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        sent.append((statement, parameters))

    sa_event.listen(sync.engine, "before_cursor_execute", record)
    try:
        run = sync.runs.start(task.id)
        sync.runs.finish(run.id)
    finally:
        sa_event.remove(sync.engine, "before_cursor_execute", record)
    return sent, task.id, run.id


def _swap(parameters: Any, swaps: dict[Any, Any]) -> Any:
    def one(value: Any) -> Any:
        try:
            return swaps.get(value, value)
        except TypeError:  # an unhashable value: not an id
            return value

    if isinstance(parameters, dict):
        return {key: one(value) for key, value in parameters.items()}
    return tuple(one(value) for value in parameters)


def _swaps(
    old_task: uuid.UUID, old_run: uuid.UUID, task: uuid.UUID, run: uuid.UUID
) -> dict[Any, Any]:
    return {
        old_task: task, old_task.hex: task.hex, str(old_task): str(task),
        old_run: run, old_run.hex: run.hex, str(old_run): str(run),
    }  # fmt: skip


def _replay(
    db: Database,
    sent: list[tuple[str, Any]],
    old: tuple[uuid.UUID, uuid.UUID],
    tasks: list[uuid.UUID],
    plan: Plan,
) -> float:
    """The recorded statements on the raw driver, per fresh task; BEGIN and COMMIT as sent."""
    iterations = iter(tasks)

    if db.dialect == "sqlite":
        conn = db.sqlite()
        # The two transactions: split the recording at its second BEGIN.
        second = next(i for i, (s, _) in enumerate(sent) if i and s.startswith("BEGIN"))
        halves = [sent[:second], sent[second:]]

        def pair() -> None:
            swaps = _swaps(*old, next(iterations), uuid.uuid4())
            for half in halves:
                for statement, parameters in half:
                    conn.execute(statement, _swap(parameters, swaps)).fetchall()
                conn.execute("COMMIT")  # sent by sqlite3 itself, not through a cursor

        try:
            return _timed_sync(pair, plan)
        finally:
            conn.close()

    pg = db.psycopg()
    # psycopg begins implicitly; the recording has no BEGIN on PostgreSQL. Split where the
    # customer check of the second transaction starts (the write guard opens each one).
    starts = [i for i, (s, _) in enumerate(sent) if "FROM customers" in s]
    halves = [sent[: starts[1]], sent[starts[1] :]]

    def pg_pair() -> None:
        swaps = _swaps(*old, next(iterations), uuid.uuid4())
        for half in halves:
            with pg.cursor() as cursor:
                for statement, parameters in half:
                    cursor.execute(statement, _swap(parameters, swaps))
            pg.commit()

    try:
        return _timed_sync(pg_pair, plan)
    finally:
        pg.close()


async def _status_change(
    db: Database, store: Store, sync: SyncStore, plan: Plan
) -> list[dict[str, Any]]:
    sent, old_task, old_run = await asyncio.to_thread(_record_start_finish, sync)
    total = plan.calls + plan.warmup
    fresh = [(await store.tasks.create(title=f"replay {i}")).id for i in range(total)]
    ceiling = await asyncio.to_thread(_replay, db, sent, (old_task, old_run), fresh, plan)
    mine = iter([(await store.tasks.create(title=f"async {i}")).id for i in range(total)])
    theirs = iter([(await store.tasks.create(title=f"sync {i}")).id for i in range(total)])

    async def async_pair() -> None:
        run = await store.runs.start(next(mine))
        await store.runs.finish(run.id)

    def sync_pair() -> None:
        run = sync.runs.start(next(theirs))
        sync.runs.finish(run.id)

    flightlog = await _timed_async(async_pair, plan)
    sync_ms = await asyncio.to_thread(_timed_sync, sync_pair, plan)
    driver = "sqlite3" if db.dialect == "sqlite" else "psycopg"
    name = f"{driver}: the same {len(sent)} statements replayed"
    return [
        _case("status change: store.runs.start + finish", flightlog, ceiling, name, None),
        _case("status change: SyncStore.runs.start + finish", sync_ms, ceiling, name, None),
    ]


# --- the run --------------------------------------------------------------------------------


async def run_dialect(dialect: str, plan: Plan) -> dict[str, Any]:
    async with throwaway(dialect) as db:
        url = db.url.url.render_as_string(hide_password=False)
        async with open_store(url, settings=db.settings) as store:
            sync = open_store_sync(url, settings=db.settings, customer_id=store.customer_id)
            try:
                cases = await _one_event(db, store, sync, plan)
                console.log(f"{dialect}: one event done")
                cases += await _status_change(db, store, sync, plan)
                console.log(f"{dialect}: status change done")
                concurrent = [await _concurrent(store, n, plan) for n in (1, 16, 32)]
                console.log(f"{dialect}: concurrent writers done")
            finally:
                sync.close()
        return {
            "dialect": dialect,
            "date": date.today().isoformat(),
            "machine": machine(),
            "versions": versions(server_version(db)),
            "calls": plan.calls,
            "cases": cases,
            "concurrent": concurrent,
        }


def table_lines(reports: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| dialect | case | Flightlog median | ceiling median | ratio | target |",
        "|---|---|---:|---:|---:|---|",
    ]
    for report in reports:
        for c in report["cases"]:
            target = c["target"] or ""
            if c["met"] is not None:
                target += " met" if c["met"] else " **missed**"
            lines.append(
                f"| {report['dialect']} | {c['name']} | {c['median_ms']:.3f} ms | "
                f"{c['ceiling_median_ms']:.3f} ms ({c['ceiling']}) | {c['ratio']:.2f}x | {target} |"
            )
    lines += [
        "",
        "| dialect | writers (one event per call, one process) | events/s | p50 | p99 | p99/p50 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for report in reports:
        for c in report["concurrent"]:
            lines.append(
                f"| {report['dialect']} | {c['writers']} | {c['rate']:,.0f} | {c['p50_ms']:.2f} ms "
                f"| {c['p99_ms']:.2f} ms | {c['p99_over_p50']:.1f}x |"
            )
    return lines


def update_readme(reports: list[dict[str, Any]]) -> None:
    note = f" ({reports[0]['calls']:,} sequential calls per case, medians)"
    replace_readme_block("small-writes", reports, COMMAND, table_lines(reports), note=note)


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.small_writes", description=__doc__)
    parser.add_argument("--dialect", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--quick", action="store_true", help="300 calls per case: a try-out run")
    parser.add_argument("--no-readme", action="store_true", help="leave the README table alone")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    dialects = ("sqlite", "postgresql") if args.dialect == "both" else (args.dialect,)
    with console.status("measuring small writes"):
        reports = [await run_dialect(dialect, plan) for dialect in dialects]
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{date.today().isoformat()}-small-writes{'-quick' if args.quick else ''}.json"
    out.write_text(json.dumps({"reports": reports}, indent=2, default=str) + "\n")
    console.log(f"wrote {out}")
    summary = Table(title="Flightlog small writes (medians)")
    for column in ("dialect", "case", "Flightlog", "ceiling", "ratio", "target"):
        summary.add_column(column)
    for report in reports:
        for c in report["cases"]:
            mark = {True: "[green]met[/]", False: "[red]missed[/]", None: ""}[c["met"]]
            summary.add_row(
                report["dialect"],
                c["name"],
                f"{c['median_ms']:.3f} ms",
                f"{c['ceiling_median_ms']:.3f} ms",
                f"{c['ratio']:.2f}x",
                f"{c['target'] or ''} {mark}",
            )
    console.print(summary)
    for report in reports:
        for c in report["concurrent"]:
            console.print(
                f"{report['dialect']}: {c['writers']} writers: {c['rate']:,.0f} events/s, "
                f"p50 {c['p50_ms']:.2f} ms, p99 {c['p99_ms']:.2f} ms"
            )
    if not args.quick and not args.no_readme and len(reports) == 2:
        update_readme(reports)
        console.log("updated benchmarks/README.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))

"""``flightlog serve --workers 2`` next to ``--workers 1`` on PostgreSQL, and where the CPU goes.

``nice -n -10 .venv/bin/python -m benchmarks.workers [--quick] [--no-readme]``
(the niceness, recorded with the results, gives the measured processes the
cores before other work on a shared machine; PostgreSQL's backends keep theirs)

On one throwaway PostgreSQL database (see ``_databases``), with 300 tasks,
each with a running run, three agent runs and 200 events (a task list to page
and timelines to read), two mixes of requests are sent by a client in a
process of its own (``benchmarks._mixed_load``: 16 keep-alive connections,
requests prebuilt, the next sent as soon as an answer is in):

- **write-heavy**: 90% ``POST /api/v1/events`` with one event, 10% ``GET
  /api/v1/tasks?limit=50``;
- **read-heavy**: 10% the same write, 45% the task list page, 45% ``GET
  /api/v1/runs/{id}/timeline?limit=100`` of a random run.

Each mix runs against ``flightlog serve --workers 1`` and ``--workers 2``, in
the order 1, 2, 2, 1 (full runs; quick: 1, 2), each time a fresh server whose
workers have all answered before the load starts, with a pool of 16 (the
clients; see ``SERVER_SETTINGS``). The client opens its connections, warms
up over all of them, and only then is the clock started. Per run:
requests/s, p50 and p99, failures (must be 0: any failure stops the
benchmark), every acknowledged write checked present in the database, which
worker held how many of the connections, connections the database saw
opened during the run, and the CPU spent during the timed part by the
client, each server process, the database's backends for this database, and
the whole machine (``/proc/stat``; what is not ours is other work on the
machine), with samples of ``pg_stat_activity`` every 50 ms (what the backends
were doing). The ratio reported is the mean rate of the 2-worker runs over
the mean of the 1-worker runs (target >= 1.6x), next to the most 2 cores
would allow at the CPU per request measured (client, server, database).

Results: ``benchmarks/results/<date>-workers[-quick].json`` and (full runs)
the ``workers`` block of ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console

from benchmarks._data import Fixture, create_fixture, events
from benchmarks._databases import Database, server_version, throwaway
from benchmarks._flightlog import batch_events
from benchmarks._mixed_load import holders
from benchmarks._otlp_paths import percentile
from benchmarks._report import RESULTS, Case, as_dict, machine, replace_readme_block, versions
from benchmarks.http_writes import ServerProcess, flightlog_server
from flightlog.store import open_store

console = Console()
ROOT = Path(__file__).resolve().parent.parent
COMMAND = ".venv/bin/python -m benchmarks.workers"
TARGET = 1.6
#: The most of the machine's busy time other work may take for a ratio to be judged.
QUIET = 0.15
CLIENTS = 16
TASKS = 300
EVENTS_PER_TASK = 200
MIXES: dict[str, dict[str, int]] = {
    "write-heavy": {"write": 90, "tasks": 10},
    "read-heavy": {"write": 10, "tasks": 45, "timeline": 45},
}
TICKS = os.sysconf("SC_CLK_TCK")
#: A pool as large as the clients, for 1 worker and 2 alike: with the default 10, one
#: worker facing 16 clients keeps opening and closing overflow connections (each a new
#: PostgreSQL backend), which would charge 1 worker for its pool, not for being one process.
SERVER_SETTINGS = {"FLIGHTLOG_POOL_SIZE": str(CLIENTS)}


@dataclass(frozen=True)
class Plan:
    requests: int
    warmup: int
    order: tuple[int, ...]  # worker counts, one fresh server each


FULL = Plan(requests=8_000, warmup=300, order=(1, 2, 2, 1))
QUICK = Plan(requests=1_500, warmup=100, order=(1, 2))


# --- CPU, from /proc -------------------------------------------------------------------


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of one process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def machine_cpu() -> tuple[float, float]:
    """Busy and total CPU seconds of the whole machine so far (all cores)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # user .. steal (guest time is already in user)
    return (total - idle) / TICKS, total / TICKS


def server_processes(leader: int) -> dict[str, list[int]]:
    """The server's processes by role: ``flightlog serve`` itself, its uvicorn workers
    (forked from it, so running its command line, or spawned by multiprocessing where
    they cannot be forked), and helpers (multiprocessing's resource tracker).

    With one worker, ``flightlog serve`` is the worker.
    """
    found: dict[str, list[int]] = {"parent": [leader], "workers": [], "helpers": []}
    own = Path(f"/proc/{leader}/cmdline").read_bytes()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == leader:
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[2]) == leader:  # the server's process group
            role = "workers" if command == own or b"spawn_main" in command else "helpers"
            found[role].append(int(entry.name))
    if not found["workers"]:
        found["workers"], found["parent"] = [leader], []
    return found


def sessions_opened(db: Database) -> int:
    """Connections ever opened to this database (PostgreSQL 14+): new ones cost a backend."""
    with db.psycopg() as conn:
        row = conn.execute(
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    return int(row[0]) if row else 0


def backend_pids(db: Database) -> list[int]:
    query = (
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
    )
    with db.psycopg() as conn:
        return sorted(int(r[0]) for r in conn.execute(query).fetchall())


@contextmanager
def wait_events(db: Database, every: float = 0.05) -> Iterator[Counter[str]]:
    """Samples of what this database's backends are doing, counted, while the block runs."""
    seen: Counter[str] = Counter()
    stop = threading.Event()
    query = (
        "SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND backend_type = 'client backend'"
    )

    def sample() -> None:
        with db.psycopg() as conn:
            conn.autocommit = True
            while not stop.wait(every):
                for state, kind, name in conn.execute(query).fetchall():
                    if state == "active":
                        seen["active: " + (f"{kind}:{name}" if kind else "on CPU")] += 1
                    else:
                        seen[state or "unknown"] += 1

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join(timeout=10)


# --- the load ----------------------------------------------------------------------------


def request_plan(
    key: str, mix: dict[str, int], fx: Fixture, write_task: str, total: int, seed: int
) -> dict[str, Any]:
    """The requests of one run in send order: the mix's shares, shuffled with ``seed``."""
    rng = random.Random(seed)
    kinds = [kind for kind, share in mix.items() for _ in range(share)]
    requests: list[list[Any]] = []
    for i in range(total):
        kind = kinds[rng.randrange(len(kinds))]
        if kind == "write":
            requests.append(["write", write_task, i])
        elif kind == "tasks":
            requests.append(["tasks", "/api/v1/tasks?limit=50"])
        else:
            run = fx.runs[rng.randrange(len(fx.runs))]
            requests.append(["timeline", f"/api/v1/runs/{run}/timeline?limit=100"])
    return {"key": key, "requests": requests}


def wait_for_workers(server: ServerProcess, workers: int, timeout: float = 90.0) -> None:
    """Return once each of ``workers`` processes has answered a request.

    The server answers its health check as soon as one worker is up; a load
    started then would have every connection taken by the first worker, which
    keeps them (keep-alive) however many workers start later.
    """
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    while len(seen) < workers:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(seen)} of {workers} workers answered")
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
            conn.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            conn.recv(65536)
            seen.update(holders(server.port, {conn.getsockname()[1]}))


def _stored_ids(db: Database, task: str) -> set[int]:
    """The benchmark's events under ``task`` (not the one the task's creation wrote)."""
    with db.psycopg() as conn:
        rows = conn.execute(
            "SELECT id FROM events WHERE task_id = %s AND starts_with(content, 'http bench ')",
            (task,),
        ).fetchall()
    return {int(r[0]) for r in rows}


def measure(
    db: Database,
    server: ServerProcess,
    plan_file: Path,
    clients: int,
    warmup: int,
    label: str,
) -> dict[str, Any]:
    """One load on one server: the client's figures and the CPU of everyone meanwhile."""
    argv = [sys.executable, "-m", "benchmarks._mixed_load", "--port", str(server.port),
            "--plan", str(plan_file), "--clients", str(clients), "--warmup", str(warmup),
            "--label", label]  # fmt: skip
    client = subprocess.Popen(
        argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert client.stdin is not None
    assert client.stdout is not None
    ready = json.loads(client.stdout.readline() or "{}")
    if not ready.get("ready"):
        client.kill()
        raise RuntimeError(f"{label}: the client process did not get ready")
    roles = server_processes(server.process.pid)
    servers = [pid for pids in roles.values() for pid in pids]
    backends = backend_pids(db)
    before = {pid: process_cpu(pid) for pid in servers + backends}
    opened_before = sessions_opened(db)
    busy_before, total_before = machine_cpu()
    with wait_events(db) as waits:
        client.stdin.write("go\n")
        client.stdin.flush()
        line = client.stdout.readline()
        busy_after, total_after = machine_cpu()
        backends_after = backend_pids(db)  # a pool may have opened more meanwhile
        after = {pid: process_cpu(pid) for pid in servers + backends_after}
    # Less this function's own two connections and the sampler's.
    opened = sessions_opened(db) - opened_before - 3
    client.wait(timeout=60)
    if client.returncode != 0 or not line:
        raise RuntimeError(f"{label}: the client process failed")
    result: dict[str, Any] = json.loads(line)
    result["cpu"] = {
        "servers": {
            role: {str(p): round(after[p] - before.get(p, 0.0), 3) for p in pids}
            for role, pids in roles.items()
        },
        "database_backends": round(sum(after[p] - before.get(p, 0.0) for p in backends_after), 3),
        "backend_count": len(backends_after),
        "connections_opened": opened,
        "machine_busy": round(busy_after - busy_before, 3),
        "machine_total": round(total_after - total_before, 3),
    }
    result["wait_events"] = dict(waits.most_common())
    result["connections_by_pid"] = ready["connections_by_pid"]
    return result


def summarise(
    mix: str, workers: int, round_: int, result: dict[str, Any], stored: set[int]
) -> Case:
    latencies = [v for values in result["latencies_ms"].values() for v in values]
    requests, seconds = len(latencies), result["seconds"]
    cpu = result["cpu"]
    servers = cpu["servers"]
    worker_cpu: dict[str, float] = servers["workers"]
    others = sum(servers["parent"].values()) + sum(servers["helpers"].values())
    ours = (
        result["client_cpu_seconds"] + sum(worker_cpu.values()) + others + cpu["database_backends"]
    )

    def per_request(value: float) -> float:
        return round(value / requests * 1000, 3)

    by_kind = {
        kind: {
            "requests": len(values),
            "p50_ms": round(percentile(values, 0.5), 2),
            "p99_ms": round(percentile(values, 0.99), 2),
        }
        for kind, values in sorted(result["latencies_ms"].items())
    }
    return Case(
        name=f"{mix}, {workers} worker{'s' * (workers > 1)}, round {round_}",
        rows=requests,
        seconds=round(seconds, 3),
        rate=round(requests / seconds, 1),
        extra={
            "mix": mix,
            "workers": workers,
            "clients": CLIENTS,
            "p50_ms": round(percentile(latencies, 0.5), 2),
            "p99_ms": round(percentile(latencies, 0.99), 2),
            "by_kind": by_kind,
            "failures": result["failures"],
            "acknowledged_and_stored": len(stored),
            "connections_by_worker": sorted(
                (n for pid, n in result["connections_by_pid"].items() if pid in worker_cpu),
                reverse=True,
            ),
            "cpu_ms_per_request": {
                "client": per_request(result["client_cpu_seconds"]),
                "server_workers": per_request(sum(worker_cpu.values())),
                "server_parent": per_request(others),
                "database_backends": per_request(cpu["database_backends"]),
                "everything_else": per_request(max(0.0, cpu["machine_busy"] - ours)),
                "whole_machine": per_request(cpu["machine_busy"]),
            },
            "worker_cpu_share_of_a_core": sorted(
                (round(s / seconds, 2) for s in worker_cpu.values()), reverse=True
            ),
            "machine_busy_share": round(cpu["machine_busy"] / cpu["machine_total"], 3),
            "backend_count": cpu["backend_count"],
            "connections_opened_during_the_run": cpu["connections_opened"],
            "wait_events": result["wait_events"],
        },
    )


async def _tenant(db: Database) -> tuple[str, Fixture, list[str]]:
    """The key, the read fixture (tasks with runs and events) and a task per run to write to."""
    async with open_store(db.settings.database_url, settings=db.settings, upgrade=False) as store:
        key = (await store.api_keys.create("workers benchmark")).key
        fx = await create_fixture(store, task_count=TASKS, big_share=0.0)
        await batch_events(store, events(fx, 0, TASKS * EVENTS_PER_TASK))
        writes = [await store.tasks.create(title=f"workers bench writes {i}") for i in range(16)]
    with db.psycopg() as conn:
        conn.execute("ANALYZE")  # as autovacuum would after such a load
        conn.commit()
    return key, fx, [str(t.id) for t in writes]


async def run(plan: Plan) -> dict[str, Any]:
    log = Path("/tmp") / "flightlog-bench-workers.log"
    cases: list[Case] = []
    async with throwaway("postgresql") as db:
        key, fx, write_tasks = await _tenant(db)
        with tempfile.TemporaryDirectory() as scratch:
            for mix_name, mix in MIXES.items():
                for round_, workers in enumerate(plan.order, start=1):
                    task = write_tasks.pop()
                    label = f"{mix_name} {round_}"
                    plan_file = Path(scratch) / f"{mix_name}-{round_}.json"
                    total = plan.warmup + plan.requests
                    requests = request_plan(key, mix, fx, task, total, seed=round_)
                    plan_file.write_text(json.dumps(requests))
                    server = await asyncio.to_thread(
                        flightlog_server, db, workers, log, SERVER_SETTINGS
                    )
                    try:
                        await asyncio.to_thread(wait_for_workers, server, workers)
                        result = await asyncio.to_thread(
                            measure, db, server, plan_file, CLIENTS, plan.warmup, label
                        )
                    finally:
                        await asyncio.to_thread(server.stop)
                    if result["failures"]:
                        raise RuntimeError(f"{label}: failed requests {result['failures']}")
                    acknowledged = set(result["ids"])
                    written = sum(1 for r in requests["requests"] if r[0] == "write")
                    stored = _stored_ids(db, task)
                    if len(acknowledged) != written or stored != acknowledged:
                        raise RuntimeError(
                            f"{label}: {written} writes sent, {len(acknowledged)} acknowledged, "
                            f"{len(stored)} stored"
                        )
                    case = summarise(mix_name, workers, round_, result, stored)
                    cases.append(case)
                    share = case.extra["cpu_ms_per_request"]
                    console.log(
                        f"{case.name}: {case.rate:,.0f} req/s, p50 {case.extra['p50_ms']:.1f} ms, "
                        f"p99 {case.extra['p99_ms']:.1f} ms, connections "
                        f"{case.extra['connections_by_worker']}, CPU ms/request {share}, "
                        f"machine busy {case.extra['machine_busy_share']:.0%}"
                    )
        database = server_version(db)
    cases += comparisons(cases)
    return {
        "date": date.today().isoformat(),
        "dialect": "postgresql",
        "mode": "quick" if plan is QUICK else "full",
        "command": COMMAND + (" --quick" if plan is QUICK else ""),
        "machine": {**machine(), "niceness": os.nice(0)},
        "versions": versions(database),
        "plan": {
            "requests": plan.requests,
            "warmup": plan.warmup,
            "order": plan.order,
            "clients": CLIENTS,
            "mixes": MIXES,
        },
        "cases": as_dict(cases),
    }


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _costs(cases: list[Case]) -> tuple[float, float]:
    """Mean CPU ms per request of the server (workers and parent) and of all that is ours
    (server, database backends, client), leaving out other work on the machine."""
    server = _mean(
        [c.extra["cpu_ms_per_request"]["server_workers"]
         + c.extra["cpu_ms_per_request"]["server_parent"] for c in cases]
    )  # fmt: skip
    database_and_client = _mean(
        [c.extra["cpu_ms_per_request"]["database_backends"]
         + c.extra["cpu_ms_per_request"]["client"] for c in cases]
    )  # fmt: skip
    return server, server + database_and_client


def _other_share(cases: list[Case]) -> float:
    """How much of the machine's busy time was not ours, on average over ``cases``."""
    cpu = [c.extra["cpu_ms_per_request"] for c in cases]
    return _mean([c["everything_else"] / c["whole_machine"] for c in cpu])


def best_rate(workers: int, server_ms: float, ours_ms: float, cores: int) -> float:
    """The most requests/s at these CPU costs on an otherwise idle machine: each worker is
    one process (at most one core), and all that is ours shares the cores."""
    return min(workers * 1000 / server_ms, cores * 1000 / ours_ms)


def comparisons(cases: list[Case]) -> list[Case]:
    """Per mix: the mean rate of 2 workers over 1, and what the CPU costs allow.

    ``cpu_bound_ratio`` is :func:`best_rate` with 2 workers over that with 1, each
    from the CPU per request measured in its own runs: the ratio an idle machine of
    this many cores could show, whatever else ran during the measurement.
    """
    out = []
    cores = os.cpu_count() or 1
    for mix in MIXES:
        one = [c for c in cases if c.extra["mix"] == mix and c.extra["workers"] == 1]
        two = [c for c in cases if c.extra["mix"] == mix and c.extra["workers"] == 2]
        rate_one = _mean([c.rate or 0.0 for c in one])
        rate_two = _mean([c.rate or 0.0 for c in two])
        (server_one, ours_one), (server_two, ours_two) = _costs(one), _costs(two)
        best_one = best_rate(1, server_one, ours_one, cores)
        best_two = best_rate(2, server_two, ours_two, cores)
        ratio = rate_two / rate_one
        other = _other_share(one + two)
        out.append(
            Case(
                name=f"{mix}: --workers 2 vs --workers 1",
                rows=sum(c.rows for c in two),
                rate=round(rate_two, 1),
                ceiling_rate=round(rate_one, 1),
                ratio=round(ratio, 3),
                target=f">= {TARGET}x",
                # Not judged when other work took much of the machine: CPU is shared per
                # process, so 2 workers win a larger share of a busy machine than 1 does.
                met=ratio >= TARGET if other <= QUIET else None,
                extra={
                    "mix": mix,
                    "comparison": "workers",
                    "rates_one": [c.rate for c in one],
                    "rates_two": [c.rate for c in two],
                    "server_cpu_ms_per_request": [round(server_one, 3), round(server_two, 3)],
                    "our_cpu_ms_per_request": [round(ours_one, 3), round(ours_two, 3)],
                    "best_rates_on_an_idle_machine": [round(best_one), round(best_two)],
                    "cpu_bound_ratio": round(best_two / best_one, 2),
                    "other_work_share_of_the_machine": round(other, 2),
                },
            )
        )
    return out


def table_lines(report: dict[str, Any]) -> list[str]:
    lines = [
        "| mix | workers | requests/s | p50 | p99 | errors | connections per worker "
        "| CPU ms/request: workers / db / client / other | machine busy | ratio | target | |",
        "|---|---:|---:|---:|---:|---:|---|---|---:|---:|---|---|",
    ]
    for c in report["cases"]:
        e = c["extra"]
        if e.get("comparison") == "workers":
            verdict = {True: "met", False: "**missed**", None: "not judged"}[c["met"]]
            bound = e["cpu_bound_ratio"]
            cores = report["machine"]["cores"]
            lines.append(
                f"| {e['mix']} | 2 vs 1 | {c['rate']:,.0f}/s vs {c['ceiling_rate']:,.0f}/s | | "
                f"| | | at these CPU costs an idle {cores}-core machine allows at most "
                f"{bound:.2f}x | other work: {e['other_work_share_of_the_machine']:.0%} | "
                f"{c['ratio']:.2f}x | {c['target']} | {verdict} |"
            )
            continue
        cpu = e["cpu_ms_per_request"]
        split = "/".join(str(n) for n in e["connections_by_worker"])
        lines.append(
            f"| {e['mix']} | {e['workers']} | {c['rate']:,.0f}/s | {e['p50_ms']:.1f} ms | "
            f"{e['p99_ms']:.1f} ms | {sum(e['failures'].values())} | {split} | "
            f"{cpu['server_workers'] + cpu['server_parent']:.2f} / "
            f"{cpu['database_backends']:.2f} / {cpu['client']:.2f} / "
            f"{cpu['everything_else']:.2f} | {e['machine_busy_share']:.0%} | | | |"
        )
    return lines


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.workers", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer requests, one round each")
    parser.add_argument("--no-readme", action="store_true", help="leave the README table alone")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    report = await run(plan)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{report['date']}-workers{'-quick' if args.quick else ''}.json"
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    console.log(f"wrote {out}")
    for line in table_lines(report):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    if not args.quick and not args.no_readme:
        niceness = report["machine"]["niceness"]
        command = f"nice -n {niceness} {COMMAND}" if niceness else COMMAND
        replace_readme_block("workers", [report], command, table_lines(report))
        console.log("updated benchmarks/README.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))

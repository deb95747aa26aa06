"""One event per HTTP request, through a real server, next to a bare endpoint's ceiling.

``.venv/bin/python -m benchmarks.http_writes --dialect both [--quick]``

Per dialect, in one throwaway database (see ``_databases``), each case on a task
of its own:

1. **Ceiling**: ``benchmarks._http_ceiling``, a bare ASGI app served by uvicorn
   in its own process, that parses the same request and writes the same event
   with the raw driver (BEGIN, customer check, task check, INSERT ... RETURNING,
   COMMIT; sqlite3 / asyncpg).
2. **Flightlog**: ``flightlog serve --workers 1`` in its own process.
3. **PostgreSQL only**: ``flightlog serve --workers 2``, and the ceiling with 2
   workers, at 16 clients.

The clients run in a separate process (``benchmarks._http_load``): 1 and 16
concurrent keep-alive connections, each sending ``POST /api/v1/events`` with
one event, the next as soon as the answer is in. Reported: requests/s over the
timed requests (after a warm-up), p50 and p99 latency per request, the CPU the
client and the server processes used. Afterwards every acknowledged event id
is checked to be in the database (and nothing else under the case's task).

Results go to ``benchmarks/results/<date>-http-writes[-quick].json`` and (full
runs of both dialects) the table in ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from benchmarks._databases import Database, server_version, throwaway
from benchmarks._otlp_paths import _free_port, percentile
from benchmarks._report import RESULTS, Case, as_dict, machine, replace_readme_block, versions
from flightlog.store import open_store

console = Console()
ROOT = Path(__file__).resolve().parent.parent
COMMAND = ".venv/bin/python -m benchmarks.http_writes --dialect both"
TARGET_RATIO = 0.5
TARGET_TAIL = 5.0
TARGET_WORKERS = 1.6
STARTUP_SECONDS = 90.0


@dataclass(frozen=True)
class Plan:
    requests: dict[int, int]  # clients -> timed requests
    warmup: int


FULL = Plan(requests={1: 2_000, 16: 6_000}, warmup=200)
QUICK = Plan(requests={1: 200, 16: 600}, warmup=50)


class ServerProcess:
    """A server in its own process group, stopped with its workers, whatever happens."""

    def __init__(self, argv: list[str], env: dict[str, str], probe: str, log: Path) -> None:
        self.port = int(argv[argv.index("--port") + 1])
        self._log = log.open("a")
        self.process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + STARTUP_SECONDS
        while not self._answers(probe):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{argv[2]} did not start; see {log}")
            time.sleep(0.1)

    def _answers(self, probe: str) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}{probe}", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def cpu_seconds(self) -> float:
        """User + system CPU of every process in the server's group (workers included)."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == self.process.pid:  # the process group
                total += int(fields[11]) + int(fields[12])
        return total / ticks

    def stop(self) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=30)
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self._log.close()


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("FLIGHTLOG_", "BENCH_"))}


def flightlog_server(
    db: Database, workers: int, log: Path, settings: Mapping[str, str] | None = None
) -> ServerProcess:
    """``flightlog serve`` on ``db``; ``settings`` are extra ``FLIGHTLOG_*`` variables."""
    env = _environment()
    env["FLIGHTLOG_BLOB_DIR"] = str(db.settings.blob_dir)
    env.update(settings or {})
    url = db.url.url.render_as_string(hide_password=False)
    argv = [sys.executable, "-m", "flightlog", "serve", "--port", str(_free_port()), "-d", url,
            "--workers", str(workers), "--log-level", "warning"]  # fmt: skip
    return ServerProcess(argv, env, "/api/v1/health", log)


def ceiling_server(db: Database, workers: int, log: Path) -> ServerProcess:
    env = _environment()
    env.update(
        BENCH_CEILING_DIALECT=db.dialect,
        BENCH_CEILING_TARGET=db.conninfo,
        BENCH_CEILING_BUSY_MS=str(db.settings.sqlite_busy_timeout_ms),
        BENCH_CEILING_CACHE_MIB=str(db.settings.sqlite_cache_mib),
    )
    argv = [sys.executable, "-m", "benchmarks._http_ceiling", "--port", str(_free_port()),
            "--workers", str(workers)]  # fmt: skip
    return ServerProcess(argv, env, "/", log)


def _load(server: ServerProcess, key: str, task: str, clients: int, plan: Plan) -> dict[str, Any]:
    argv = [sys.executable, "-m", "benchmarks._http_load", "--port", str(server.port),
            "--key", key, "--task", task, "--clients", str(clients),
            "--requests", str(plan.requests[clients]), "--warmup", str(plan.warmup)]  # fmt: skip
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the client process failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _stored_ids(db: Database, task: str) -> set[int]:
    query = "SELECT id FROM events WHERE task_id = {} AND starts_with(content, 'http bench ')"
    if db.dialect == "postgresql":
        with db.psycopg() as conn:
            return {int(r[0]) for r in conn.execute(query.format("%s"), (task,)).fetchall()}
    conn = db.sqlite()
    try:
        hex_id = task.replace("-", "")
        sql = query.format("?").replace(
            "starts_with(content, 'http bench ')", "content GLOB 'http bench *'"
        )
        return {int(r[0]) for r in conn.execute(sql, (hex_id,)).fetchall()}
    finally:
        conn.close()


def measure(
    db: Database, server: ServerProcess, key: str, task: str, clients: int, plan: Plan, name: str
) -> Case:
    """One load against one server; fails unless every request was acknowledged and stored."""
    cpu_before = server.cpu_seconds()
    result = _load(server, key, task, clients, plan)
    server_cpu = server.cpu_seconds() - cpu_before
    if result["failures"]:
        raise RuntimeError(f"{name}: failed requests {result['failures']}")
    acknowledged = set(result["ids"])
    if len(acknowledged) != plan.requests[clients] + plan.warmup:
        raise RuntimeError(f"{name}: {len(acknowledged)} distinct ids acknowledged")
    stored = _stored_ids(db, task)
    if stored != acknowledged:
        raise RuntimeError(
            f"{name}: {len(acknowledged - stored)} acknowledged writes missing, "
            f"{len(stored - acknowledged)} unacknowledged present"
        )
    latencies = result["latencies_ms"]
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    requests, seconds = len(latencies), result["seconds"]
    return Case(
        name=name,
        rows=requests,
        seconds=round(seconds, 3),
        rate=round(requests / seconds, 1),
        extra={
            "clients": clients,
            "p50_ms": round(p50, 2),
            "p99_ms": round(p99, 2),
            "p99_over_p50": round(p99 / p50, 2),
            "max_ms": round(max(latencies), 2),
            "client_cpu_seconds": result["client_cpu_seconds"],
            "server_cpu_seconds": round(server_cpu, 2),
            "acknowledged_and_stored": len(stored),
        },
    )


async def _tenant(db: Database, tasks: int) -> tuple[str, list[str]]:
    async with open_store(db.settings.database_url, settings=db.settings, upgrade=False) as store:
        key = (await store.api_keys.create("http benchmark")).key
        made = [await store.tasks.create(title=f"http bench {i}") for i in range(tasks)]
    return key, [str(t.id) for t in made]


def _name(kind: str, workers: int, clients: int) -> str:
    what = "bare ASGI + raw driver (ceiling)" if kind == "ceiling" else "flightlog serve"
    return f"{what}, {workers} worker{'s' * (workers > 1)}, {clients} client{'s' * (clients > 1)}"


def _judge(flightlog: Case, ceiling: Case, target_ratio: float = TARGET_RATIO) -> Case:
    flightlog.ceiling_rate = ceiling.rate
    flightlog.ratio = round((flightlog.rate or 0) / (ceiling.rate or 1), 3)
    tail = flightlog.extra["p99_over_p50"]
    flightlog.target = f">= {target_ratio}x, p99 <= {TARGET_TAIL:g}x p50"
    flightlog.met = flightlog.ratio >= target_ratio and tail <= TARGET_TAIL
    return flightlog


async def run_dialect(dialect: str, plan: Plan, step: Callable[[str], None]) -> dict[str, Any]:
    log = Path("/tmp") / f"flightlog-bench-http-{dialect}.log"
    runs: list[tuple[str, int, tuple[int, ...]]] = [
        ("ceiling", 1, (1, 16)),
        ("flightlog", 1, (1, 16)),
    ]
    if dialect == "postgresql":
        runs += [("flightlog", 2, (16,)), ("ceiling", 2, (16,))]
    measured: dict[tuple[str, int, int], Case] = {}
    async with throwaway(dialect) as db:
        key, tasks = await _tenant(db, sum(len(c) for _, _, c in runs))
        for kind, workers, client_counts in runs:
            start = ceiling_server if kind == "ceiling" else flightlog_server
            server = await asyncio.to_thread(start, db, workers, log)
            try:
                for clients in client_counts:
                    name = _name(kind, workers, clients)
                    step(f"{dialect}: {name}")
                    task = tasks.pop()
                    case = await asyncio.to_thread(
                        measure, db, server, key, task, clients, plan, name
                    )
                    case.extra["workers"] = workers
                    case.extra["server"] = kind
                    measured[(kind, workers, clients)] = case
                    console.log(
                        f"{dialect}: {name}: {case.rate:,.0f} req/s, "
                        f"p50 {case.extra['p50_ms']:.1f} ms, p99 {case.extra['p99_ms']:.1f} ms"
                    )
            finally:
                await asyncio.to_thread(server.stop)
        database = server_version(db)
    cases = []
    for (kind, workers, clients), c in measured.items():
        if kind == "flightlog":
            _judge(c, measured[("ceiling", workers, clients)])
        cases.append(c)
    if dialect == "postgresql":
        one, two = measured[("flightlog", 1, 16)], measured[("flightlog", 2, 16)]
        cases.append(
            Case(
                name="flightlog serve --workers 2 vs --workers 1, 16 clients",
                rows=two.rows,
                rate=two.rate,
                ceiling_rate=one.rate,
                ratio=round((two.rate or 0) / (one.rate or 1), 3),
                target=f">= {TARGET_WORKERS}x",
                met=(two.rate or 0) / (one.rate or 1) >= TARGET_WORKERS,
                extra={"clients": 16, "comparison": "workers"},
            )
        )
    return {
        "date": date.today().isoformat(),
        "dialect": dialect,
        "mode": "quick" if plan is QUICK else "full",
        "command": COMMAND + (" --quick" if plan is QUICK else ""),
        "machine": machine(),
        "versions": versions(database),
        "plan": {"requests": plan.requests, "warmup": plan.warmup},
        "cases": as_dict(cases),
    }


def _row(dialect: str, c: dict[str, Any]) -> str:
    extra = c["extra"]
    verdict = {True: "met", False: "**missed**", None: ""}[c["met"]]
    if extra.get("comparison") == "workers":
        return (
            f"| {dialect} | {c['name']} | 16 | 2 vs 1 | {c['rate']:,.0f}/s | | | | "
            f"{c['ceiling_rate']:,.0f}/s | {c['ratio']:.2f}x | {c['target']} | {verdict} |"
        )
    ceiling = f"{c['ceiling_rate']:,.0f}/s" if c.get("ceiling_rate") else "—"
    ratio = f"{c['ratio']:.2f}x" if c.get("ratio") is not None else ""
    return (
        f"| {dialect} | {c['name']} | {extra['clients']} | {extra['workers']} | "
        f"{c['rate']:,.0f}/s | {extra['p50_ms']:.1f} ms | {extra['p99_ms']:.1f} ms | "
        f"{extra['p99_over_p50']:.1f}x | {ceiling} | {ratio} | {c['target'] or ''} | {verdict} |"
    )


def table_lines(reports: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| dialect | case | clients | workers | requests/s | p50 | p99 | p99/p50 | ceiling "
        "| ratio | target | |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for report in reports:
        lines += [_row(report["dialect"], c) for c in report["cases"]]
    return lines


def update_readme(reports: list[dict[str, Any]]) -> None:
    replace_readme_block("http-writes", reports, COMMAND, table_lines(reports))


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http_writes", description=__doc__)
    parser.add_argument("--dialect", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--quick", action="store_true", help="a tenth of the requests")
    parser.add_argument("--no-readme", action="store_true", help="leave the README table alone")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    dialects = ("sqlite", "postgresql") if args.dialect == "both" else (args.dialect,)
    steps = sum(4 if d == "sqlite" else 6 for d in dialects)
    reports = []
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("starting", total=steps)

        def step(description: str) -> None:
            progress.update(task, description=description, advance=1)

        for dialect in dialects:
            reports.append(await run_dialect(dialect, plan, step))
        progress.update(task, completed=steps, description="done")
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = "-quick" if args.quick else ""
    out = RESULTS / f"{date.today().isoformat()}-http-writes{suffix}.json"
    out.write_text(json.dumps({"reports": reports}, indent=2, default=str) + "\n")
    console.log(f"wrote {out}")
    summary = Table(title="One event per HTTP request")
    for column in ("dialect", "case", "req/s", "p50", "p99", "ratio", "target", ""):
        summary.add_column(column)
    for report in reports:
        for c in report["cases"]:
            extra = c["extra"]
            mark = {True: "[green]met[/]", False: "[red]missed[/]", None: ""}[c["met"]]
            summary.add_row(
                report["dialect"],
                c["name"],
                f"{c['rate']:,.0f}",
                f"{extra['p50_ms']:.1f} ms" if "p50_ms" in extra else "",
                f"{extra['p99_ms']:.1f} ms" if "p99_ms" in extra else "",
                f"{c['ratio']:.2f}x" if c.get("ratio") is not None else "",
                c["target"] or "",
                mark,
            )
    console.print(summary)
    if not args.quick and not args.no_readme and len(reports) == 2:
        update_readme(reports)
        console.log("updated benchmarks/README.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))

"""The paths the OTLP benchmark times: a real ``flightlog serve``, its senders, the live
stream, and the raw drivers writing the same rows the ingest wrote.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from benchmarks._databases import Database

PROTOBUF = "application/x-protobuf"
#: The tables OTLP ingest writes, parents first (the order the ceilings fill them in).
WRITTEN = ("sessions", "task_runs", "agent_runs", "events", "otlp_spans")
#: What the written rows refer to and the ceilings' database must hold first (untimed).
PREREQUISITES = ("customers", "tasks")
STARTUP_SECONDS = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """``flightlog serve`` in a child process on a free loopback port (``workers`` processes)."""

    def __init__(self, db: Database, log: Path, workers: int = 1) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLIGHTLOG_")}
        env["FLIGHTLOG_BLOB_DIR"] = str(db.settings.blob_dir)
        self._log = log.open("a")
        url = db.url.url.render_as_string(hide_password=False)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flightlog", "serve", "--port", str(self.port), "-d", url,
             "--workers", str(workers), "--log-level", "warning"],
            stdout=self._log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        self._wait_until_up(log)

    def _wait_until_up(self, log: Path, probe: str = "/api/v1/health") -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not self._answers(probe):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.process.args[2]} did not start; see {log}")
            time.sleep(0.1)

    def _answers(self, probe: str) -> bool:
        try:
            return httpx.get(f"{self.base}{probe}", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self._log.close()


class CeilingServer(Server):
    """:mod:`benchmarks._otlp_ceiling` in a child process on a free loopback port."""

    def __init__(self, db: Database, rows: Path, log: Path, workers: int = 1) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FLIGHTLOG_", "BENCH_"))}
        env.update(
            BENCH_OTLP_DIALECT=db.dialect,
            BENCH_OTLP_TARGET=db.conninfo,
            BENCH_OTLP_ROWS=str(rows),
            BENCH_OTLP_BUSY_MS=str(db.settings.sqlite_busy_timeout_ms),
            BENCH_OTLP_CACHE_MIB=str(db.settings.sqlite_cache_mib),
        )
        self._log = log.open("a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._otlp_ceiling", "--port", str(self.port),
             "--workers", str(workers)],
            stdout=self._log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        self._wait_until_up(log, probe="/")


def check_export(response: httpx.Response) -> None:
    """A 200 whose ``ExportTraceServiceResponse`` rejected nothing, else an error."""
    if response.status_code != 200:
        raise RuntimeError(f"POST /v1/traces: {response.status_code} {response.content[:300]!r}")
    answer = ExportTraceServiceResponse.FromString(response.content)
    if answer.partial_success.rejected_spans:
        raise RuntimeError(f"spans rejected: {answer.partial_success}")


async def send(client: httpx.AsyncClient, key: str, bodies: Sequence[bytes], senders: int) -> float:
    """Every body posted by ``senders`` concurrent senders; seconds until the last answer."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": PROTOBUF}
    pending = iter(bodies)

    async def sender() -> None:
        for body in pending:  # a shared iterator: each body goes once, in order of taking
            check_export(await client.post("/v1/traces", content=body, headers=headers))

    await client.get("/api/v1/health")
    start = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(senders)))
    return time.perf_counter() - start


@dataclass
class Follower:
    """A client following ``GET /api/v1/events/stream`` in a thread, noting arrival times."""

    base: str
    key: str
    after_id: int
    poll_seconds: float
    arrived: dict[str, float] = field(default_factory=dict)
    connected: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        params = {
            "after_id": self.after_id,
            "poll_seconds": self.poll_seconds,
            "timeout_seconds": 600,
        }
        headers = {"Authorization": f"Bearer {self.key}"}
        with httpx.stream(
            "GET", f"{self.base}/api/v1/events/stream", params=params, headers=headers,
            timeout=httpx.Timeout(30, read=60),
        ) as response:  # fmt: skip
            response.raise_for_status()
            for line in response.iter_lines():
                self.connected.set()
                if line.startswith("data: "):
                    at = time.monotonic()
                    span_id = _span_id(line)
                    if span_id is not None:
                        self.arrived[span_id] = at
                if self.stop.is_set():
                    return


def _span_id(line: str) -> str | None:
    marker = '"span_id":"'
    start = line.find(marker)
    if start < 0:
        return None
    start += len(marker)
    return line[start : line.index('"', start)]


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


# -- the raw ceiling -------------------------------------------------------------------------


@dataclass
class Rows:
    """The rows OTLP ingest wrote, per table, as the driver returned them (insert-ready)."""

    columns: dict[str, list[str]]
    rows: dict[str, list[tuple[Any, ...]]]


def _pg_columns(conn: Any, table: str) -> list[str]:
    found = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
        "AND is_generated = 'NEVER' AND is_identity = 'NO' "
        "AND coalesce(column_default, '') NOT LIKE 'nextval%%' ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    return [name for (name,) in found]


def _sqlite_columns(conn: Any, table: str) -> list[str]:
    found = conn.execute(f"PRAGMA table_xinfo({table})").fetchall()
    # hidden 0 only (generated columns are 2/3); the events id is the rowid: the database's.
    return [row[1] for row in found if row[6] == 0 and not (table == "events" and row[1] == "id")]


async def read_rows(db: Database, tables: Sequence[str]) -> Rows:
    """Every row of ``tables``; agent runs parents first (SQLite checks FKs per row)."""
    columns: dict[str, list[str]] = {}
    rows: dict[str, list[tuple[Any, ...]]] = {}
    if db.dialect == "postgresql":
        with db.psycopg() as pconn:
            for table in tables:
                columns[table] = _pg_columns(pconn, table)
        conn = await db.asyncpg()
        try:
            for table in tables:
                names = ", ".join(columns[table])
                rows[table] = [tuple(r) for r in await conn.fetch(f"SELECT {names} FROM {table}")]
        finally:
            await conn.close()
    else:
        sconn = db.sqlite()
        try:
            for table in tables:
                columns[table] = _sqlite_columns(sconn, table)
                names = ", ".join(columns[table])
                rows[table] = sconn.execute(f"SELECT {names} FROM {table}").fetchall()
        finally:
            sconn.close()
    if "agent_runs" in rows:
        rows["agent_runs"] = _parents_first(columns["agent_runs"], rows["agent_runs"])
    return Rows(columns, rows)


def _parents_first(columns: list[str], rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    ident, parent = columns.index("id"), columns.index("parent_id")
    placed: set[Any] = set()
    ordered: list[tuple[Any, ...]] = []
    remaining = rows
    while remaining:
        ready = [r for r in remaining if r[parent] is None or r[parent] in placed]
        if not ready:
            raise RuntimeError("agent runs refer to parents that are not in the table")
        ordered.extend(ready)
        placed.update(r[ident] for r in ready)
        remaining = [r for r in remaining if r[ident] not in placed]
    return ordered


async def load_untimed(db: Database, rows: Rows) -> None:
    """The rows the written ones refer to (customers, tasks), put in place before any clock."""
    if db.dialect == "postgresql":
        conn = await db.asyncpg()
        try:
            await conn.execute("DELETE FROM tasks; DELETE FROM customers")
            for table in PREREQUISITES:
                await conn.copy_records_to_table(
                    table, records=rows.rows[table], columns=rows.columns[table]
                )
        finally:
            await conn.close()
        return
    sconn = db.sqlite()
    try:
        sconn.execute("BEGIN IMMEDIATE")
        sconn.execute("DELETE FROM tasks")
        sconn.execute("DELETE FROM customers")
        for table in PREREQUISITES:
            _sqlite_insert(sconn, table, rows)
        sconn.execute("COMMIT")
    finally:
        sconn.close()


def _sqlite_insert(conn: Any, table: str, rows: Rows) -> None:
    names = rows.columns[table]
    sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
    conn.executemany(sql, rows.rows[table])


async def empty(db: Database) -> None:
    """Remove what a ceiling round wrote (untimed), so the next round starts alike."""
    if db.dialect == "postgresql":
        conn = await db.asyncpg()
        try:
            await conn.execute(f"TRUNCATE {', '.join(WRITTEN)} CASCADE")
        finally:
            await conn.close()
        return
    sconn = db.sqlite()
    try:
        for table in reversed(WRITTEN):
            sconn.execute(f"DELETE FROM {table}")
    finally:
        sconn.close()


async def ceiling_asyncpg(db: Database, rows: Rows) -> float:
    """asyncpg ``copy_records_to_table`` per table, one transaction, commit included."""
    conn = await db.asyncpg()
    try:
        start = time.perf_counter()
        async with conn.transaction():
            for table in WRITTEN:
                await conn.copy_records_to_table(
                    table, records=rows.rows[table], columns=rows.columns[table]
                )
        return time.perf_counter() - start
    finally:
        await conn.close()


def ceiling_psycopg(db: Database, rows: Rows) -> float:
    """psycopg 3 ``COPY ... FROM STDIN`` with ``write_row`` per table, one transaction."""
    with db.psycopg() as conn:
        start = time.perf_counter()
        with conn.cursor() as cur:
            for table in WRITTEN:
                names = ", ".join(rows.columns[table])
                with cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in rows.rows[table]:
                        copy.write_row(row)
        conn.commit()
        return time.perf_counter() - start


def ceiling_sqlite(db: Database, rows: Rows) -> float:
    """sqlite3 ``executemany`` of one prepared INSERT per table inside ``BEGIN IMMEDIATE``."""
    conn = db.sqlite()
    try:
        start = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        for table in WRITTEN:
            _sqlite_insert(conn, table, rows)
        conn.execute("COMMIT")
        return time.perf_counter() - start
    finally:
        conn.close()


def by_trace(rows: Rows) -> tuple[dict[str, list[str]], dict[str, dict[str, list[Any]]], int]:
    """The written rows of each trace (a session with the runs that name it), for the bare
    ceiling (:mod:`benchmarks._otlp_ceiling`); and how many rows name no trace (the tasks'
    own events, which it leaves out)."""
    columns = {table: rows.columns[table] for table in WRITTEN}
    grouped: dict[str, dict[str, list[Any]]] = {}
    untraced = 0
    session_traces: dict[Any, list[str]] = {}
    run_columns = columns["task_runs"]
    trace_at, session_at = run_columns.index("trace_id"), run_columns.index("session_id")
    for row in rows.rows["task_runs"]:
        if row[trace_at] is not None and row[session_at] is not None:
            session_traces.setdefault(row[session_at], []).append(row[trace_at])
    for table in WRITTEN:
        names = columns[table]
        key = names.index("id" if table == "sessions" else "trace_id")
        for row in rows.rows[table]:
            if table == "sessions":
                owners = session_traces.get(row[key], [])
            else:
                owners = [] if row[key] is None else [row[key]]
            if not owners:
                untraced += 1
            for trace in owners:
                grouped.setdefault(trace, {}).setdefault(table, []).append(row)
    return columns, grouped, untraced

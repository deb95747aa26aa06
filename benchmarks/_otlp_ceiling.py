"""The bare ceiling of ``benchmarks.otlp`` through HTTP: a bare ASGI app that takes the same
OTLP requests and writes the rows Flightlog wrote for them with the raw driver, served by
uvicorn with the listeners ``flightlog serve --workers N`` uses.

``python -m benchmarks._otlp_ceiling --port P [--workers N]`` with
``BENCH_OTLP_DIALECT`` (``sqlite`` or ``postgresql``), ``BENCH_OTLP_TARGET`` (the
SQLite file or a libpq URL) and ``BENCH_OTLP_ROWS`` (a pickle of
:class:`TraceRows`, the rows case 1 wrote, by trace).

No framework, no API key, no mapping: per request it reads the body, decodes it
with the official ``opentelemetry-proto`` classes, reads each span's ids and
attributes into Python values (what any receiver must do to look at a span), and
in one transaction writes the rows of the traces whose root span the request
carries (their spans' rows were all known when case 1 wrote them; roots come
last in export order), parents first: sessions, runs, agent runs, events and the
span ledger. So it writes every row case 1 wrote, in as many requests, without
the ledger's round trip for spans that wait, the tasks' statistics, or any of
the mapping's work: what Flightlog's span ingest could reach on this machine if
turning a span into its record cost nothing.

- SQLite: one ``sqlite3`` connection with Flightlog's pragmas, called in the event
  loop (``BEGIN IMMEDIATE``, ``executemany`` per table, ``COMMIT``).
- PostgreSQL: an asyncpg pool, ``copy_records_to_table`` per table in
  ``conn.transaction()`` (sessions by ``INSERT``, as case 1's may be shared).
"""

from __future__ import annotations

import os
import pickle
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from benchmarks import _bare_asgi as bare

#: The tables written, parents first.
TABLES = ("sessions", "task_runs", "agent_runs", "events", "otlp_spans")
_state: dict[str, Any] = {}
_RESPONSE = ExportTraceServiceResponse().SerializeToString()


@dataclass
class TraceRows:
    """Insert-ready rows of each table, by the trace they came from, and the columns."""

    columns: dict[str, list[str]]
    by_trace: dict[str, dict[str, list[tuple[Any, ...]]]] = field(default_factory=dict)


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


def _roots(body: bytes) -> list[str]:
    """Decode the request, read every span, and name the traces whose root it carries."""
    request = ExportTraceServiceRequest.FromString(body)
    roots = []
    read: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = []
    for resource_spans in request.resource_spans:
        resource = {kv.key: _value(kv.value) for kv in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                attributes = {kv.key: _value(kv.value) for kv in span.attributes}
                trace_id = span.trace_id.hex()
                read.append((trace_id, span.span_id.hex(), attributes, resource))
                if not span.parent_span_id:
                    roots.append(trace_id)
    return roots


def _sqlite_write(conn: sqlite3.Connection, rows: TraceRows, trace_ids: list[str]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        for table in TABLES:
            batch = [r for t in trace_ids for r in rows.by_trace.get(t, {}).get(table, ())]
            if not batch:
                continue
            names = rows.columns[table]
            verb = "INSERT OR IGNORE" if table == "sessions" else "INSERT"
            conn.executemany(
                f"{verb} INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                batch,
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


async def _postgres_write(pool: Any, rows: TraceRows, trace_ids: list[str]) -> None:
    async with pool.acquire() as conn, conn.transaction():
        for table in TABLES:
            batch = [r for t in trace_ids for r in rows.by_trace.get(t, {}).get(table, ())]
            if not batch:
                continue
            names = rows.columns[table]
            if table == "sessions":
                marks = ", ".join(f"${i + 1}" for i in range(len(names)))
                await conn.executemany(
                    f"INSERT INTO sessions ({', '.join(names)}) VALUES ({marks}) "
                    "ON CONFLICT DO NOTHING",
                    batch,
                )
            else:
                await conn.copy_records_to_table(table, records=batch, columns=names)


async def _start() -> None:
    dialect, target = os.environ["BENCH_OTLP_DIALECT"], os.environ["BENCH_OTLP_TARGET"]
    # Loaded before the worker serves anything: the benchmark's own file.
    _state["rows"] = pickle.loads(Path(os.environ["BENCH_OTLP_ROWS"]).read_bytes())  # noqa: ASYNC240
    _state["dialect"] = dialect
    if dialect == "sqlite":
        conn = bare.sqlite_connection(
            target, int(os.environ["BENCH_OTLP_BUSY_MS"]), int(os.environ["BENCH_OTLP_CACHE_MIB"])
        )
        _state["conn"] = conn
    else:
        _state["pool"] = await asyncpg.create_pool(target, min_size=4, max_size=4)


async def _stop() -> None:
    await bare.close(_state)


async def _handle(received: bytes) -> tuple[int, bytes]:
    roots = _roots(received)
    if _state["dialect"] == "sqlite":
        _sqlite_write(_state["conn"], _state["rows"], roots)
    else:
        await _postgres_write(_state["pool"], _state["rows"], roots)
    return 200, _RESPONSE


app = bare.asgi_app(_start, _stop, _handle, b"application/x-protobuf")


if __name__ == "__main__":
    bare.main("benchmarks._otlp_ceiling", app)

"""The ceiling of ``benchmarks.http_writes``: a bare ASGI app that takes the same request
and writes the same event with the raw driver, served by uvicorn like ``flightlog serve``.

``python -m benchmarks._http_ceiling --port P [--workers N]`` with
``BENCH_CEILING_DIALECT`` (``sqlite`` or ``postgresql``), ``BENCH_CEILING_TARGET``
(the SQLite file or a libpq URL), and for SQLite ``BENCH_CEILING_BUSY_MS`` and
``BENCH_CEILING_CACHE_MIB`` (Flightlog's pragmas).

No framework, no validation, no API key: per request it reads the body, parses
the JSON and runs the transaction one event costs at the least: BEGIN, the
customer's status, the task's owner, INSERT ... RETURNING id, COMMIT.

- SQLite: one ``sqlite3`` connection, called in the event loop (``BEGIN
  IMMEDIATE``; a write takes well under a millisecond, and SQLite takes one
  writer at a time anyway, so this is its fastest path).
- PostgreSQL: an asyncpg pool of 16 connections (the most concurrent clients
  measured), prepared statements, ``conn.transaction()``.

Several workers listen as ``flightlog serve --workers N`` does
(``flightlog.cli.worker_listeners``: Nagle off, a listener per worker), so the
ceiling is not held back by what Flightlog fixed in its own server.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import uuid
from typing import Any

import asyncpg
import uvicorn

from flightlog.cli.worker_listeners import serve_workers

Scope = dict[str, Any]
INSERT_COLUMNS = "customer_id, task_id, event_type, severity, agent_role, content, data"
_state: dict[str, Any] = {}


def _sqlite_insert(conn: sqlite3.Connection, customer: str, event: dict[str, Any]) -> int:
    task = uuid.UUID(event["task_id"]).hex
    conn.execute("BEGIN IMMEDIATE")
    try:
        status = conn.execute("SELECT status FROM customers WHERE id = ?", (customer,)).fetchone()
        owner = conn.execute("SELECT customer_id FROM tasks WHERE id = ?", (task,)).fetchone()
        if status is None or status[0] != "ACTIVE" or owner is None or owner[0] != customer:
            raise LookupError("no such task for an active customer")
        cursor = conn.execute(
            f"INSERT INTO events ({INSERT_COLUMNS}) VALUES (?, ?, ?, 'INFO', ?, ?, ?) RETURNING id",
            (
                customer,
                task,
                event["event_type"],
                event.get("agent_role"),
                event.get("content"),
                json.dumps(event.get("data")),
            ),
        )
        event_id = int(cursor.fetchone()[0])
        conn.execute("COMMIT")
        return event_id
    except BaseException:
        conn.execute("ROLLBACK")
        raise


async def _postgres_insert(pool: Any, customer: uuid.UUID, event: dict[str, Any]) -> int:
    task = uuid.UUID(event["task_id"])
    async with pool.acquire() as conn, conn.transaction():
        status = await conn.fetchval("SELECT status FROM customers WHERE id = $1", customer)
        owner = await conn.fetchval("SELECT customer_id FROM tasks WHERE id = $1", task)
        if status != "ACTIVE" or owner != customer:
            raise LookupError("no such task for an active customer")
        event_id: int = await conn.fetchval(
            f"INSERT INTO events ({INSERT_COLUMNS}) "
            "VALUES ($1, $2, $3, 'INFO', $4, $5, $6) RETURNING id",
            customer,
            task,
            event["event_type"],
            event.get("agent_role"),
            event.get("content"),
            json.dumps(event.get("data")),
        )
        return event_id


async def _start() -> None:
    dialect, target = os.environ["BENCH_CEILING_DIALECT"], os.environ["BENCH_CEILING_TARGET"]
    _state["dialect"] = dialect
    if dialect == "sqlite":
        conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA busy_timeout={int(os.environ['BENCH_CEILING_BUSY_MS'])}")
        conn.execute(f"PRAGMA cache_size=-{int(os.environ['BENCH_CEILING_CACHE_MIB']) * 1024}")
        _state["conn"] = conn
        _state["customer"] = conn.execute("SELECT id FROM customers").fetchone()[0]
    else:
        pool = await asyncpg.create_pool(target, min_size=16, max_size=16)
        _state["pool"] = pool
        _state["customer"] = await pool.fetchval("SELECT id FROM customers")


async def _stop() -> None:
    if "conn" in _state:
        _state["conn"].close()
    if "pool" in _state:
        await _state["pool"].close()


async def _respond(send: Any, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await _start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await _stop()
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    if scope["method"] == "GET":  # the readiness probe
        await _respond(send, 200, {"status": "ok"})
        return
    chunks = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    event = json.loads(b"".join(chunks))["events"][0]
    if _state["dialect"] == "sqlite":
        event_id = _sqlite_insert(_state["conn"], _state["customer"], event)
    else:
        event_id = await _postgres_insert(_state["pool"], _state["customer"], event)
    await _respond(send, 201, {"ids": [event_id]})


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._http_ceiling")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if args.workers == 1:
        uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
        return
    config = uvicorn.Config(
        "benchmarks._http_ceiling:app",
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        log_level="warning",
    )
    serve_workers(config)


if __name__ == "__main__":
    main()

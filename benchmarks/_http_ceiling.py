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

import json
import os
import sqlite3
import uuid
from typing import Any

import asyncpg

from benchmarks import _bare_asgi as bare

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
        conn = bare.sqlite_connection(
            target,
            int(os.environ["BENCH_CEILING_BUSY_MS"]),
            int(os.environ["BENCH_CEILING_CACHE_MIB"]),
        )
        _state["conn"] = conn
        _state["customer"] = conn.execute("SELECT id FROM customers").fetchone()[0]
    else:
        pool = await asyncpg.create_pool(target, min_size=16, max_size=16)
        _state["pool"] = pool
        _state["customer"] = await pool.fetchval("SELECT id FROM customers")


async def _stop() -> None:
    await bare.close(_state)


async def _handle(received: bytes) -> tuple[int, bytes]:
    event = json.loads(received)["events"][0]
    if _state["dialect"] == "sqlite":
        event_id = _sqlite_insert(_state["conn"], _state["customer"], event)
    else:
        event_id = await _postgres_insert(_state["pool"], _state["customer"], event)
    return 201, json.dumps({"ids": [event_id]}).encode()


app = bare.asgi_app(_start, _stop, _handle, b"application/json")


if __name__ == "__main__":
    bare.main("benchmarks._http_ceiling", app)

"""Grow a table to a target size between measurements: setup, not a measured path.

Rows are written by the raw driver with the checks that cannot fail on this
synthetic data switched off for the filling connection only (PostgreSQL: FK
triggers via ``session_replication_role``; SQLite: ``foreign_keys``) and,
on SQLite, with a large page cache. Indexes stay in place, so the table and
its indexes grow the ordinary way, row by row.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from benchmarks._databases import Database


async def fill(
    db: Database, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> float:
    start = time.perf_counter()
    if db.dialect == "sqlite":
        conn = db.sqlite()
        try:
            conn.execute("PRAGMA foreign_keys=OFF")
            conn.execute("PRAGMA cache_size=-262144")
            marks = ", ".join("?" * len(columns))
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
            conn.execute("COMMIT")
        finally:
            conn.close()
        return time.perf_counter() - start
    conn = await db.asyncpg()
    try:
        await conn.execute("SET session_replication_role = replica")
        await conn.execute("SET synchronous_commit = off")
        async with conn.transaction():
            await conn.copy_records_to_table(table, records=rows, columns=list(columns))
    finally:
        await conn.close()
    return time.perf_counter() - start

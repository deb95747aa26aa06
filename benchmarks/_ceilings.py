"""The raw drivers' best paths on the same tables: the ceilings Flightlog is measured against.

Each writes prebuilt driver-ready tuples in one transaction on its own
connection (opened before the clock starts) and returns the elapsed seconds
including the commit.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from benchmarks._databases import Database

Rows = list[tuple[Any, ...]]


async def asyncpg_copy(db: Database, table: str, columns: Sequence[str], rows: Rows) -> float:
    """asyncpg ``copy_records_to_table`` (binary COPY)."""
    conn = await db.asyncpg()
    try:
        start = time.perf_counter()
        async with conn.transaction():
            await conn.copy_records_to_table(table, records=rows, columns=list(columns))
        return time.perf_counter() - start
    finally:
        await conn.close()


def psycopg_copy(db: Database, table: str, columns: Sequence[str], rows: Rows) -> float:
    """psycopg 3 ``COPY ... FROM STDIN`` with ``write_row``."""
    with db.psycopg() as conn:
        start = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp,
        ):
            for row in rows:
                cp.write_row(row)
        conn.commit()
        return time.perf_counter() - start


def sqlite_executemany(db: Database, table: str, columns: Sequence[str], rows: Rows) -> float:
    """sqlite3 ``executemany`` of one prepared INSERT inside ``BEGIN IMMEDIATE``."""
    conn = db.sqlite()
    try:
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        start = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, rows)
        conn.execute("COMMIT")
        return time.perf_counter() - start
    finally:
        conn.close()

"""SQLite: one prepared INSERT run by ``executemany`` on the session's own connection.

The statement runs on the aiosqlite connection SQLAlchemy already holds, so
it is inside the caller's ``BEGIN IMMEDIATE`` transaction and savepoint.
A ``None`` in the clock column gets the column's own default expression,
evaluated by SQLite per row, exactly as an INSERT that omitted it would.

Writes do not overlap with preparing the next chunk here: sqlite3 releases
the GIL only around each row's step, so a busy event-loop thread would make
the writer thread wait for the GIL on every row.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from flightlog.ingest._codec import SQLITE_NOW
from flightlog.ingest._pipeline import Row, Stream
from flightlog.services._common import translate_integrity_error


def insert_sql(stream: Stream) -> str:
    """The INSERT every row of ``stream`` goes through, on SQLite."""
    values = [
        f"coalesce(?, {SQLITE_NOW})" if position == stream.clock_column else "?"
        for position in range(len(stream.columns))
    ]
    return f"INSERT INTO {stream.table} ({', '.join(stream.columns)}) VALUES ({', '.join(values)})"


class SqliteWriter:
    """executemany of one prepared INSERT; ids come from ``last_insert_rowid()``."""

    overlaps = False

    def __init__(self, driver: Any, stream: Stream) -> None:
        self._driver = driver
        self._stream = stream
        self._sql = insert_sql(stream)

    @classmethod
    async def open(cls, session: AsyncSession, stream: Stream) -> SqliteWriter:
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        return cls(raw.driver_connection, stream)

    async def write(self, rows: list[Row], ids: list[int] | None) -> None:
        try:
            cursor = await self._driver.executemany(self._sql, rows)
        except sqlite3.IntegrityError as exc:
            wrapped = IntegrityError(self._sql, None, exc)
            raise translate_integrity_error(wrapped, what=f"a row of {self._stream.table}") from exc
        await cursor.close()
        if ids is not None:
            # The write lock is held for the whole transaction and the tables use
            # AUTOINCREMENT, so one statement's rows got consecutive ids.
            cursor = await self._driver.execute("SELECT last_insert_rowid()")
            (last,) = await cursor.fetchone()
            await cursor.close()
            ids.extend(range(last - len(rows) + 1, last + 1))

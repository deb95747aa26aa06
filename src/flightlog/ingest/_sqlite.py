"""SQLite: one prepared INSERT run by ``executemany`` on the session's own connection.

The statement runs on the DBAPI connection SQLAlchemy already holds (sqlite3,
or aiosqlite behind SQLAlchemy's adapter under the async Store), so it is
inside the caller's ``BEGIN IMMEDIATE`` transaction and savepoint. A
``None`` in the clock column gets the column's own default expression,
evaluated by SQLite per row, exactly as an INSERT that omitted it would.

Writes do not overlap with preparing the next chunk here: sqlite3 releases
the GIL only around each row's step, so a busy event-loop thread would make
the writer thread wait for the GIL on every row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

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

    def __init__(self, dbapi: Any, stream: Stream) -> None:
        self._dbapi = dbapi
        self._stream = stream
        self._sql = insert_sql(stream)

    @classmethod
    def open(cls, session: Session, stream: Stream) -> SqliteWriter:
        return cls(session.connection().connection.dbapi_connection, stream)

    def write(self, rows: list[Row], ids: list[int] | None) -> None:
        cursor = self._dbapi.cursor()
        try:
            cursor.executemany(self._sql, rows)
            if ids is not None:
                # The write lock is held for the whole transaction and the tables use
                # AUTOINCREMENT, so one statement's rows got consecutive ids.
                cursor.execute("SELECT last_insert_rowid()")
                (last,) = cursor.fetchone()
                ids.extend(range(last - len(rows) + 1, last + 1))
        except sqlite3.IntegrityError as exc:
            wrapped = IntegrityError(self._sql, None, exc)
            raise translate_integrity_error(wrapped, what=f"a row of {self._stream.table}") from exc
        finally:
            cursor.close()

    def begin_write(self, rows: list[Row], ids: list[int] | None) -> Awaitable[None] | None:
        """Writes do not overlap on SQLite (see the module's docstring): write now."""
        self.write(rows, ids)
        return None

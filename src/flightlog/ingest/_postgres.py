"""PostgreSQL: COPY through the session's own connection (asyncpg or psycopg).

Using the connection SQLAlchemy already holds keeps the COPY inside the
caller's transaction (and savepoint), so a failure anywhere rolls it back
with everything else. The omitted ``id`` takes its default; a ``None`` in
the clock column (``created_at``, ``recorded_at``) becomes ``now()`` of this
transaction, which is exactly what the column default would have stored.

Under the async Store the driver is asyncpg (binary COPY, which may overlap
with preparing the next chunk); under the synchronous Store it is psycopg,
whose ``COPY … FROM STDIN`` takes the rows one by one through its adapters.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.util import await_only

from flightlog.db.failures import sqlstate
from flightlog.db.partition_layout import slots_of
from flightlog.db.partitions import ensure_slots
from flightlog.errors import ValidationError
from flightlog.ingest._pipeline import Row, Stream
from flightlog.services._common import translate_integrity_error
from flightlog.services.event_feed import TAKE_TRANSACTION_ID, TRANSACTION_ID_TAKEN

_NEXT_IDS = text(
    "SELECT array_agg(nextval(CAST(:sequence AS regclass))) FROM generate_series(1, :n)"
)


#: Sequence names by engine URL and table: a schema's sequences do not change while it runs.
_SEQUENCES: dict[tuple[str, str], str] = {}


def _sequence_of(session: Session, table: str) -> str:
    """The table's id sequence, looked up once per database and process."""
    key = (str(session.get_bind().engine.url), table)
    found = _SEQUENCES.get(key)
    if found is None:
        found = str(
            session.execute(
                text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table}
            ).scalar_one()
        )
        _SEQUENCES[key] = found
    return found


def _is_integrity_error(exc: BaseException) -> bool:
    # asyncpg ships no type information; its errors carry the SQLSTATE, class 23 = integrity.
    return sqlstate(exc).startswith("23")


class PostgresWriter:
    """COPY rows of one stream; with asyncpg a write may overlap with preparing the next."""

    def __init__(self, session: Session, driver: Any, stream: Stream) -> None:
        self._session = session
        self._driver = driver
        self._stream = stream
        self._now: datetime | None = None
        self._sequence: str | None = None
        #: asyncpg's COPY is a coroutine that can run as a task; psycopg's is a blocking call.
        self._overlaps = session.get_bind().dialect.driver == "asyncpg"

    @classmethod
    def open(cls, session: Session, stream: Stream) -> PostgresWriter:
        # Also BEGINs (the drivers send BEGIN only with a first statement, and without
        # one a raw COPY would run, and commit, on its own). Taking the transaction id
        # before drawing event ids keeps the live feed's watermark sound (see
        # flightlog.services.event_feed).
        if not session.info.get(TRANSACTION_ID_TAKEN):
            session.execute(TAKE_TRANSACTION_ID)
            session.info[TRANSACTION_ID_TAKEN] = True
        driver: Any = session.connection().connection.driver_connection
        return cls(session, driver, stream)

    def _next_ids(self, count: int) -> list[int]:
        if self._sequence is None:
            self._sequence = _sequence_of(self._session, self._stream.table)
        values = self._session.execute(_NEXT_IDS, {"sequence": self._sequence, "n": count})
        return sorted(values.scalar_one())

    def _clock(self) -> datetime:
        """``now()`` of this transaction, asked for only when a row leaves its time out."""
        if self._now is None:
            self._now = self._session.execute(text("SELECT now()")).scalar_one()
        return self._now

    def _rows_and_columns(
        self, rows: list[Row], ids: list[int] | None
    ) -> tuple[list[Row], tuple[str, ...]]:
        columns: tuple[str, ...] = self._stream.columns
        clock = self._stream.clock_column
        if clock is not None and any(row[clock] is None for row in rows):
            now = self._clock()
            if clock == len(columns) - 1:
                tail = (now,)
                rows = [row if row[-1] is not None else row[:-1] + tail for row in rows]
            else:
                rows = [
                    row if row[clock] is not None else (*row[:clock], now, *row[clock + 1 :])
                    for row in rows
                ]
        if clock is not None:
            # A partitioned table refuses a row whose month has no partition: make them first.
            needed = slots_of([row[clock] for row in rows])
            ensure_slots(self._session.connection(), self._stream.table, needed)
        if ids is not None:
            new_ids = self._next_ids(len(rows))
            rows = [(new_id, *row) for new_id, row in zip(new_ids, rows, strict=True)]
            columns = ("id", *columns)
            ids.extend(new_ids)
        return rows, columns

    def begin_write(self, rows: list[Row], ids: list[int] | None) -> Awaitable[None] | None:
        if self._overlaps:
            return self._write_async(rows, ids)
        self.write(rows, ids)
        return None

    def write(self, rows: list[Row], ids: list[int] | None) -> None:
        if self._overlaps:
            await_only(self._write_async(rows, ids))
            return
        rows, columns = self._rows_and_columns(rows, ids)
        statement = f"COPY {self._stream.table} ({', '.join(columns)}) FROM STDIN"
        try:
            with self._driver.cursor() as cursor, cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
        except Exception as exc:
            raise self._refused(exc) from exc

    def _write_async(self, rows: list[Row], ids: list[int] | None) -> Awaitable[None]:
        """asyncpg's binary COPY, as a coroutine the pipeline may run as a task.

        The ids and the clock are filled in here, on the calling greenlet (they
        use the session); only the COPY itself runs in the coroutine.
        """
        rows, columns = self._rows_and_columns(rows, ids)
        return self._copy_records(rows, columns)

    async def _copy_records(self, rows: list[Row], columns: tuple[str, ...]) -> None:
        try:
            await self._driver.copy_records_to_table(
                self._stream.table, records=rows, columns=list(columns)
            )
        except Exception as exc:
            raise self._refused(exc) from exc

    def _refused(self, exc: Exception) -> Exception:
        if isinstance(exc, psycopg.DataError) and not sqlstate(exc):
            # psycopg refuses some values itself, before the server sees them (a NUL in text).
            return ValidationError(f"a row of {self._stream.table} cannot be stored: {exc}")
        if _is_integrity_error(exc):
            wrapped = IntegrityError(f"COPY {self._stream.table}", None, exc)
            return translate_integrity_error(wrapped, what=f"a row of {self._stream.table}")
        if sqlstate(exc).startswith("22"):
            # A data exception: a value PostgreSQL cannot store (a NUL in text).
            return ValidationError(
                f"a row of {self._stream.table} was refused by the database: {exc}"
            )
        return exc

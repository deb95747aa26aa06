"""PostgreSQL: binary COPY through the session's own asyncpg connection.

Using the connection SQLAlchemy already holds keeps the COPY inside the
caller's transaction (and savepoint), so a failure anywhere rolls it back
with everything else. The omitted ``id`` takes its default; a ``None`` in
the clock column (``created_at``, ``recorded_at``) becomes ``now()`` of this
transaction, which is exactly what the column default would have stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from flightlog.db.failures import sqlstate
from flightlog.errors import ValidationError
from flightlog.ingest._pipeline import Row, Stream
from flightlog.services._common import translate_integrity_error
from flightlog.services.event_feed import TAKE_TRANSACTION_ID

_NEXT_IDS = "SELECT array_agg(nextval($1::regclass)) FROM generate_series(1, $2)"


def _is_integrity_error(exc: BaseException) -> bool:
    # asyncpg ships no type information; its errors carry the SQLSTATE, class 23 = integrity.
    return sqlstate(exc).startswith("23")


class PostgresWriter:
    """COPY rows of one stream; a write may overlap with preparing the next chunk."""

    overlaps = True

    def __init__(self, driver: Any, stream: Stream, now: datetime | None) -> None:
        self._driver = driver
        self._stream = stream
        self._now = now
        self._sequence: str | None = None

    @classmethod
    async def open(cls, session: AsyncSession, stream: Stream) -> PostgresWriter:
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        # Also BEGINs: SQLAlchemy's asyncpg adapter sends BEGIN only with its first
        # statement, and without one a raw COPY would run (and commit) on its own.
        # Taking the transaction id before drawing event ids keeps the live feed's
        # watermark sound (see flightlog.services.event_feed).
        await session.execute(TAKE_TRANSACTION_ID)
        now = None
        if stream.clock_column is not None:
            now = await driver.fetchval("SELECT now()")
        return cls(driver, stream, now)

    async def _next_ids(self, count: int) -> list[int]:
        if self._sequence is None:
            self._sequence = await self._driver.fetchval(
                "SELECT pg_get_serial_sequence($1, 'id')", self._stream.table
            )
        values = await self._driver.fetchval(_NEXT_IDS, self._sequence, count)
        return sorted(values)

    async def write(self, rows: list[Row], ids: list[int] | None) -> None:
        columns: tuple[str, ...] = self._stream.columns
        clock = self._stream.clock_column
        if clock is not None:
            now = self._now
            if clock == len(columns) - 1:
                tail = (now,)
                rows = [row if row[-1] is not None else row[:-1] + tail for row in rows]
            else:
                rows = [
                    row if row[clock] is not None else (*row[:clock], now, *row[clock + 1 :])
                    for row in rows
                ]
        if ids is not None:
            new_ids = await self._next_ids(len(rows))
            rows = [(new_id, *row) for new_id, row in zip(new_ids, rows, strict=True)]
            columns = ("id", *columns)
            ids.extend(new_ids)
        try:
            await self._driver.copy_records_to_table(
                self._stream.table, records=rows, columns=list(columns)
            )
        except Exception as exc:
            if _is_integrity_error(exc):
                wrapped = IntegrityError(f"COPY {self._stream.table}", None, exc)
                raise translate_integrity_error(
                    wrapped, what=f"a row of {self._stream.table}"
                ) from exc
            if sqlstate(exc).startswith("22"):
                # A data exception: a value PostgreSQL cannot store (a NUL in text).
                raise ValidationError(
                    f"a row of {self._stream.table} was refused by the database: {exc}"
                ) from exc
            raise

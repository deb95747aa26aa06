"""Stream an iterator of rows into one table in chunks, inside the caller's transaction.

Memory stays flat because the source is consumed ``chunk_size`` rows at a
time and a chunk is dropped once written. The whole stream runs inside a
savepoint: any error, in any chunk, rolls back every row of this call,
whatever the caller does with its transaction afterwards.

Like every service, this is synchronous code on a ``Session``. Under the
async Store it runs inside ``AsyncSession.run_sync``, on a greenlet of the
event loop's thread; there, with asyncpg, the next chunk is validated while
the server is still inserting the previous one (the COPY runs as a task on
the session's own connection, and preparing hands the loop a turn every few
hundred rows), so the Python work hides behind the database's. With a sync
driver (the synchronous Store) each chunk is written, then the next prepared.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from itertools import islice
from typing import Any, Protocol

from sqlalchemy.orm import Session
from sqlalchemy.util import await_only

from flightlog.ingest._codec import Codec, codec_for
from flightlog.services._common import require
from flightlog.services._dialect import dialect_name
from flightlog.services.ownership import assert_owned

DEFAULT_CHUNK_SIZE = 5000
#: While a write is in flight, preparing yields to the event loop this often so
#: the driver can keep feeding the server.
_YIELD_EVERY = 500
#: Ids already verified in one call are not checked again; past this many the memory is reset.
_MAX_REMEMBERED_IDS = 100_000

Row = tuple[Any, ...]
Prepare = Callable[[Any, int], Row]


@dataclass(frozen=True)
class Stream:
    """What the writers need to know about one append-only table."""

    table: str
    columns: tuple[str, ...]
    #: ``assert_owned`` keyword (task_ids, run_ids, ...) -> position in a row.
    references: tuple[tuple[str, int], ...]
    #: Position of a column whose None means "the database clock" (its server default).
    clock_column: int | None = None


class Writer(Protocol):
    """Writes prepared rows on the session's connection; one implementation per dialect."""

    def write(self, rows: list[Row], ids: list[int] | None) -> None:
        """Write the rows now."""

    def begin_write(self, rows: list[Row], ids: list[int] | None) -> Awaitable[None] | None:
        """Start writing: an awaitable to run as a task while the next chunk is
        prepared, or None when the rows are already written."""


def open_writer(session: Session, stream: Stream) -> Writer:
    """The fastest writer for the session's dialect, bound to its current transaction."""
    if dialect_name(session) == "postgresql":
        from flightlog.ingest._postgres import PostgresWriter

        return PostgresWriter.open(session, stream)
    from flightlog.ingest._sqlite import SqliteWriter

    return SqliteWriter.open(session, stream)


def _yield_to_loop() -> None:
    """Give the event loop a turn (an in-flight COPY makes progress meanwhile)."""
    await_only(asyncio.sleep(0))


def session_codec(session: Session) -> Codec:
    return codec_for(dialect_name(session))


class Owners:
    """Tenant checks of the task, run and agent-run ids rows refer to.

    Each chunk's distinct new ids are checked in one query per kind
    (:func:`flightlog.services.ownership.assert_owned`); ids already verified are
    remembered so a long stream about a few tasks costs a few queries in all.
    """

    def __init__(self, stream: Stream, customer_id: uuid.UUID, codec: Codec) -> None:
        self._stream = stream
        self._customer_id = customer_id
        self._codec = codec
        self._seen: dict[str, set[Any]] = {kind: set() for kind, _ in stream.references}

    def check(self, session: Session, rows: list[Row]) -> None:
        fresh: dict[str, set[Any]] = {}
        for kind, position in self._stream.references:
            new = {row[position] for row in rows} - self._seen[kind]
            new.discard(None)
            if new:
                fresh[kind] = new
        if not fresh:
            return
        to_uuid = self._codec.to_uuid
        ids: dict[str, list[Any]] = {
            kind: list(values) if kind == "event_ids" else [to_uuid(value) for value in values]
            for kind, values in fresh.items()
        }
        assert_owned(session, self._customer_id, **ids)
        for kind, values in fresh.items():
            seen = self._seen[kind]
            if len(seen) + len(values) > _MAX_REMEMBERED_IDS:
                seen.clear()
            seen.update(values)


def _prepare_chunk(
    raws: list[Any], start: int, prepare: Prepare, *, cooperative: bool
) -> list[Row]:
    if not cooperative:
        return [prepare(raw, index) for index, raw in enumerate(raws, start)]
    rows: list[Row] = []
    for offset in range(0, len(raws), _YIELD_EVERY):
        part = raws[offset : offset + _YIELD_EVERY]
        rows.extend(prepare(raw, index) for index, raw in enumerate(part, start + offset))
        _yield_to_loop()
    return rows


def _settle(pending: asyncio.Future[None] | None, exc: BaseException) -> None:
    """After a failure, let an in-flight write end before the savepoint is rolled back."""
    if pending is None:
        return
    if isinstance(exc, asyncio.CancelledError):
        pending.cancel()
    with contextlib.suppress(BaseException):
        await_only(pending)


def ingest(
    session: Session,
    source: Iterable[Any],
    *,
    stream: Stream,
    prepare: Prepare,
    owners: Owners,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    ids: list[int] | None = None,
    savepoint: bool = True,
) -> int:
    """Prepare and write ``source`` chunk by chunk; return the number of rows written.

    ``savepoint=False`` when the call is its transaction's whole work (see
    :func:`flightlog.services._common.whole_unit`): the transaction itself is then
    what a failure rolls back.
    """
    require(chunk_size >= 1, f"chunk_size must be at least 1, got {chunk_size}")
    rows_in = iter(source)
    first = list(islice(rows_in, chunk_size))
    if not first:
        return 0
    total = 0
    with session.begin_nested() if savepoint else contextlib.nullcontext():
        writer = open_writer(session, stream)
        pending: asyncio.Future[None] | None = None
        chunk = first
        try:
            while chunk:
                rows = _prepare_chunk(chunk, total, prepare, cooperative=pending is not None)
                if pending is not None:
                    done, pending = pending, None
                    await_only(done)
                owners.check(session, rows)
                started = writer.begin_write(rows, ids)
                if started is not None:
                    pending = asyncio.ensure_future(started)
                    _yield_to_loop()
                total += len(rows)
                del rows
                chunk = list(islice(rows_in, chunk_size))
            if pending is not None:
                done, pending = pending, None
                await_only(done)
        except BaseException as exc:
            _settle(pending, exc)
            raise
    return total


def write_prepared(
    session: Session,
    rows: list[Row],
    *,
    stream: Stream,
    owners: Owners,
    ids: list[int] | None = None,
) -> int:
    """Write rows that were validated earlier (the appender's buffers), in one savepoint."""
    if not rows:
        return 0
    with session.begin_nested():
        writer = open_writer(session, stream)
        owners.check(session, rows)
        writer.write(rows, ids)
    return len(rows)

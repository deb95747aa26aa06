"""Buffered single appends: callers log one event at a time and get batch speed.

An appender validates each item when it is appended (an invalid one is
refused on the spot) and keeps the prepared rows in memory. A batch is
written in its own transaction when ``max_batch`` rows are waiting, when the
oldest waiting row is ``max_delay`` seconds old, on :meth:`flush` and on
:meth:`close`. At most one batch is being written while the next fills, so
memory stays bounded and rows are written in append order.

Durability contract: a row is safe once a :meth:`flush` (or :meth:`close`)
that started after its append has returned; rows merely appended are in
memory and die with the process. A background write that fails is reported
by the next call as :class:`FlushFailed`; its rows were not written.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flightlog.errors import ConfigurationError, FlightlogError, ValidationError
from flightlog.ingest._codec import codec_for
from flightlog.ingest._pipeline import Owners, Row, Stream, write_prepared
from flightlog.ingest.events import EVENTS, event_preparer
from flightlog.ingest.metrics import METRICS, metric_preparer
from flightlog.services.events import DEFAULT_MAX_PAYLOAD_BYTES, NewEvent
from flightlog.services.metrics import NewMetric

if TYPE_CHECKING:
    from flightlog.store import Store

DEFAULT_MAX_BATCH = 5000
DEFAULT_MAX_DELAY_SECONDS = 1.0
#: While a batch is being written, an append yields to the event loop this often.
_YIELD_EVERY = 500


class FlushFailed(FlightlogError):
    """A background write failed; ``details["rows"]`` rows were not written."""

    code = "flush_failed"


def _dialect_of(target: Any) -> str:
    bind = getattr(target, "engine", None) or getattr(target, "kw", {}).get("bind")
    if bind is None:
        raise ConfigurationError("an appender needs a Store or an async_sessionmaker with a bind")
    return str(bind.dialect.name)


class _Appender:
    def __init__(
        self,
        target: Store | async_sessionmaker[AsyncSession],
        *,
        stream: Stream,
        prepare: Callable[[Any, int | None], Row],
        customer_id: uuid.UUID,
        max_batch: int,
        max_delay: float | None,
        on_flush: Callable[[int], object] | None,
    ) -> None:
        if max_batch < 1:
            raise ValidationError(f"max_batch must be at least 1, got {max_batch}")
        if max_delay is not None and max_delay <= 0:
            raise ValidationError(f"max_delay must be positive, got {max_delay}")
        self._target = target
        self._stream = stream
        self._prepare = prepare
        self._owners = Owners(stream, customer_id, codec_for(_dialect_of(target)))
        self._max_batch = max_batch
        self._max_delay = max_delay
        self._on_flush = on_flush
        self._buffer: list[Row] = []
        self._inflight: asyncio.Future[None] | None = None
        self._inflight_rows = 0
        self._lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._timed: set[asyncio.Future[None]] = set()
        self._failure: FlushFailed | None = None
        self._closed = False
        #: Rows written and committed so far.
        self.written = 0

    @property
    def pending(self) -> int:
        """Rows appended and not yet committed (buffered or being written)."""
        inflight = self._inflight
        busy = inflight is not None and not inflight.done()
        return len(self._buffer) + (self._inflight_rows if busy else 0)

    def _transaction(self) -> AbstractAsyncContextManager[AsyncSession]:
        target = self._target
        if isinstance(target, async_sessionmaker):
            return _own_transaction(target)
        return target.transaction()

    def _check(self) -> None:
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure
        if self._closed:
            raise ValidationError("this appender is closed")

    async def append(self, item: Any) -> None:
        """Validate ``item`` now and buffer it; may wait while a full batch is written."""
        self._check()
        row = self._prepare(item, None)
        buffer = self._buffer
        buffer.append(row)
        if len(buffer) >= self._max_batch:
            await self._rotate()
        else:
            if len(buffer) == 1 and self._max_delay is not None:
                self._arm_timer(self._max_delay)
            if self._inflight is not None and len(buffer) % _YIELD_EVERY == 0:
                await asyncio.sleep(0)

    async def flush(self) -> None:
        """Write everything appended so far; return once it is committed."""
        self._check()
        await self._rotate()
        async with self._lock:
            if self._inflight is not None:
                await self._inflight
                self._inflight = None
        self._check()

    async def close(self) -> None:
        """Flush the rest and refuse further appends; closing twice is harmless."""
        if self._closed:
            return
        try:
            await self.flush()
        finally:
            self._closed = True
            self._disarm_timer()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _arm_timer(self, delay: float) -> None:
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _disarm_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        if self._buffer and not self._closed:
            task = asyncio.ensure_future(self._rotate())
            self._timed.add(task)
            task.add_done_callback(self._timed.discard)

    async def _rotate(self) -> None:
        """Hand the buffer to the writer once the previous batch is committed."""
        async with self._lock:
            if self._inflight is not None:
                await self._inflight
                self._inflight = None
            if not self._buffer:
                return
            self._disarm_timer()
            rows, self._buffer = self._buffer, []
            self._inflight_rows = len(rows)
            self._inflight = asyncio.ensure_future(self._write(rows))

    async def _write(self, rows: list[Row]) -> None:
        try:
            async with self._transaction() as session:
                await session.run_sync(
                    write_prepared, rows, stream=self._stream, owners=self._owners
                )
        except Exception as exc:
            self._failure = FlushFailed(
                f"writing {len(rows):,} buffered {self._stream.table} rows failed: {exc}",
                rows=len(rows),
                cause=exc,
            )
            self._failure.__cause__ = exc
            return
        self.written += len(rows)
        if self._on_flush is not None:
            self._on_flush(len(rows))


@asynccontextmanager
async def _own_transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    async with sessions() as session, session.begin():
        yield session


def _target_customer(target: Any, customer_id: uuid.UUID | None) -> uuid.UUID:
    if customer_id is not None:
        return customer_id
    store_customer = getattr(target, "customer_id", None)
    if not isinstance(store_customer, uuid.UUID):
        raise ConfigurationError("give customer_id when the appender writes through a sessionmaker")
    return store_customer


class EventAppender(_Appender):
    """Buffered :class:`NewEvent` appends for one tenant.

    Example::

        async with EventAppender(store) as log:
            await log.append({"event_type": "LOG", "task_id": task.id, "content": "hi"})
    """

    def __init__(
        self,
        target: Store | async_sessionmaker[AsyncSession],
        *,
        customer_id: uuid.UUID | None = None,
        max_payload_bytes: int | None = None,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_delay: float | None = DEFAULT_MAX_DELAY_SECONDS,
        on_flush: Callable[[int], object] | None = None,
    ) -> None:
        customer = _target_customer(target, customer_id)
        if max_payload_bytes is None:
            settings = getattr(target, "settings", None)
            max_payload_bytes = (
                settings.max_event_payload_bytes if settings else DEFAULT_MAX_PAYLOAD_BYTES
            )
        codec = codec_for(_dialect_of(target))
        super().__init__(
            target,
            stream=EVENTS,
            prepare=event_preparer(codec, customer, max_payload_bytes),
            customer_id=customer,
            max_batch=max_batch,
            max_delay=max_delay,
            on_flush=on_flush,
        )

    async def append(self, item: NewEvent | dict[str, Any]) -> None:
        await super().append(item)


class MetricAppender(_Appender):
    """Buffered :class:`NewMetric` points for one tenant (each needs a task_id or run_id)."""

    def __init__(
        self,
        target: Store | async_sessionmaker[AsyncSession],
        *,
        customer_id: uuid.UUID | None = None,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_delay: float | None = DEFAULT_MAX_DELAY_SECONDS,
        on_flush: Callable[[int], object] | None = None,
    ) -> None:
        customer = _target_customer(target, customer_id)
        super().__init__(
            target,
            stream=METRICS,
            prepare=metric_preparer(codec_for(_dialect_of(target))),
            customer_id=customer,
            max_batch=max_batch,
            max_delay=max_delay,
            on_flush=on_flush,
        )

    async def append(self, item: NewMetric | dict[str, Any]) -> None:
        await super().append(item)

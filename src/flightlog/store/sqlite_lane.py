"""SQLite's writers in one process wait in one ordered queue, on one writer thread.

SQLite lets one transaction write at a time. Before this queue, every async
write opened ``BEGIN IMMEDIATE`` on its own pooled aiosqlite connection and
the losers slept in SQLite's busy handler, which polls with growing sleeps:
throughput did not rise with concurrency and the tail reached seconds
(issue 13: p99 1.9 s with 16 clients). Now, per database and event loop:

* a FIFO :class:`asyncio.Lock` admits one write transaction at a time, in
  the order they asked (the Store's bound writes and its composed
  ``store.transaction()`` blocks alike), so nobody meets the busy handler
  inside the process;
* a bound write runs whole (BEGIN, the service, COMMIT) on one dedicated
  thread with a synchronous sqlite3 connection: one thread hand-off per
  call instead of one per statement through aiosqlite;
* a one-statement write (an event append) waits its turn in the same queue
  and runs on the event loop's thread, where it costs less than a hand-off;
* reads run on the default thread pool with their own pooled connections
  and never wait for the queue (WAL: readers do not block the writer).

Other processes on the same file still meet the busy timeout, as before; so
does a process whose queue wait outlasts it, which then gets
``DatabaseUnavailable`` exactly as a busy database would have given.

A unit admitted to the queue runs to its end even if its caller is
cancelled (the thread cannot be interrupted), and the queue is released only
then; the cancelled caller gets its ``CancelledError`` at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import threading
import weakref
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from flightlog.db.engine import SQLITE_WAIT_IN_STEPS, create_sync_engine
from flightlog.db.failures import unavailable_error
from flightlog.db.urls import DatabaseUrl
from flightlog.settings import Settings

if TYPE_CHECKING:
    from flightlog.ingest.small import OneStatement

R = TypeVar("R")
#: Threads that run reads (each on its own pooled connection).
_READERS = 4
#: Writes made on the event loop's thread between two WAL checkpoints by the writer thread
#: (an event with its indexes is ~16 pages of WAL: ~13 MB between checkpoints).
_CHECKPOINT_EVERY = 200
#: Writes on the event loop's thread between two turns given to the loop's other tasks.
_YIELD_EVERY = 8


class _Threads:
    """A few daemon threads that run callables, in submission order, until closed.

    Not ``concurrent.futures.ThreadPoolExecutor``: that refuses new work once the
    interpreter begins to exit, and a program's non-daemon threads (an agent still
    finishing its run) must still be able to write then (tests/test_tracing_exit.py).
    """

    def __init__(self, count: int, name: str) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], object], Future[object]] | None] = (
            queue.SimpleQueue()
        )
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{n}", daemon=True)
            for n in range(count)
        ]
        self._started = False
        self._closed = False
        self._lock = threading.Lock()

    def submit(self, job: Callable[[], R]) -> Future[R]:
        with self._lock:
            if self._closed:
                raise RuntimeError("this Store was closed; open a new one")
            if not self._started:
                for thread in self._threads:
                    thread.start()
                self._started = True
        future: Future[R] = Future()
        self._jobs.put((job, future))  # type: ignore[arg-type]
        return future

    def _work(self) -> None:
        while True:
            item = self._jobs.get()
            if item is None:
                return
            job, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = job()
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)

    def close(self) -> None:
        """Finish what is queued, then stop the threads."""
        with self._lock:
            started, self._closed = self._started, True
        if not started:
            return
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join()


class WriterLane:
    """One SQLite database's write queue, writer thread and synchronous engine, in one process."""

    def __init__(self, engine: Engine, *, wait_seconds: float) -> None:
        #: Synchronous sqlite3 engine with Flightlog's pragmas (same file as the async engine).
        self.engine = engine
        self._wait_seconds = wait_seconds
        self._writer = _Threads(1, "flightlog-sqlite-writer")
        self._inline: Any = None
        self._inline_loop: asyncio.AbstractEventLoop | None = None
        self._written_inline = 0
        self._checkpointing: asyncio.Future[None] | None = None
        self._readers = _Threads(_READERS, "flightlog-sqlite-reader")
        # One lock per event loop: an asyncio.Lock belongs to the loop that first waits on it.
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    async def _admit(self) -> asyncio.Lock:
        """Wait for this loop's turn to write, as long as SQLite's busy timeout would have.

        Under the timeout whenever anyone holds the lock or waits for it, even
        when it looks free: between a release and the first waiter's wake-up it is
        unlocked with writers still queued, and a newcomer's ``acquire`` then
        queues behind them.
        """
        lock = self._lock()
        if not lock.locked() and not lock._waiters:
            # Nobody holds or waits for it: acquire() takes it without suspending, and
            # a timer set for it would cost as much as the lock itself many times over.
            await lock.acquire()
            return lock
        try:
            async with asyncio.timeout(self._wait_seconds):
                await lock.acquire()
        except TimeoutError:
            # What SQLite itself says past its busy timeout, as the domain error for it.
            raise unavailable_error(while_committing=False) from None
        return lock

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold the queue for a write transaction the caller runs itself (aiosqlite)."""
        lock = await self._admit()
        try:
            yield
        finally:
            lock.release()

    async def write(self, unit: Callable[[], R]) -> R:
        """Run ``unit`` (a whole write transaction) on the writer thread, in queue order."""
        return await self._on_writer_thread(await self._admit(), unit)

    async def _on_writer_thread(self, lock: asyncio.Lock, unit: Callable[[], R]) -> R:
        """Run ``unit`` on the writer thread in the turn ``lock`` holds; released when it ends."""
        try:
            future = asyncio.wrap_future(self._writer.submit(unit))
        except BaseException:
            lock.release()
            raise
        # Released when the unit ends, not when a cancelled caller stops waiting.
        future.add_done_callback(lambda _: lock.release())
        future.add_done_callback(lambda done: done.cancelled() or done.exception())
        return await asyncio.shield(future)

    async def write_one(self, plan: OneStatement[R]) -> R | None:
        """A one-statement write (:mod:`flightlog.ingest.small`) on the event loop's thread.

        A thread hand-off costs more than the write itself (~0.1 ms against
        ~0.06 ms here), so the statement runs right on the event loop's thread,
        on a connection kept for it that never waits: if another process holds
        the write lock it gives up at once, and the writer thread waits for that
        lock instead, in the same turn of the queue. When other writes are queued it
        waits its turn first, in the same FIFO queue: sending it to the writer
        thread instead made a busy queue stay busy, every write then paying a
        hand-off and waiting for the GIL behind the requests the loop was
        serving (16 concurrent writers got 0.6x the events/s of one). That
        connection never checkpoints the WAL (a checkpoint's fsync would stall
        the loop); the writer thread does, in the queue, every
        ``_CHECKPOINT_EVERY`` such writes.
        """
        from flightlog.store.one_statement import LockTaken, run_sqlite, run_sqlite_now

        if self._written_inline % _YIELD_EVERY == 0:
            # A turn of the loop now and then: writes that complete without ever waiting
            # would otherwise let one busy coroutine keep every other one (and the queued
            # checkpoint) waiting for as long as it writes.
            await asyncio.sleep(0)
        off_loop = functools.partial(run_sqlite, self.engine, plan)
        inline = self._inline_connection()
        if inline is None:
            return await self.write(off_loop)
        lock = await self._admit()
        try:
            result = run_sqlite_now(inline, plan)
        except LockTaken:
            # Another process holds SQLite's lock: the writer thread waits for it, in this
            # same turn, so the write keeps its place in the queue.
            return await self._on_writer_thread(lock, off_loop)
        except BaseException:
            lock.release()
            raise
        lock.release()
        self._written_inline += 1
        if self._written_inline % _CHECKPOINT_EVERY == 0:
            # In the queue like a write: with no write beside it the checkpoint
            # copies every frame, and the next write starts the WAL over.
            self._checkpointing = asyncio.ensure_future(self.write(self._checkpoint))
        return result

    @property
    def writes_on_loop_thread(self) -> int:
        """How many one-statement writes ran on the event loop's thread (diagnostics, tests)."""
        return self._written_inline

    def _inline_connection(self) -> Any:
        """The loop thread's own connection (one loop per lane uses it; others queue)."""
        loop = asyncio.get_running_loop()
        if self._inline is None and self._inline_loop is None:
            self._inline_loop = loop
            pooled = self.engine.raw_connection()
            self._inline = pooled
            cursor = pooled.cursor()
            try:
                cursor.execute("PRAGMA busy_timeout=0")
                cursor.execute("PRAGMA wal_autocheckpoint=0")
            finally:
                cursor.close()
        return self._inline if self._inline_loop is loop else None

    def _checkpoint(self) -> None:
        raw = self.engine.raw_connection()
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            raw.close()

    async def read(self, unit: Callable[[], R]) -> R:
        """Run ``unit`` (a read-only transaction) on a pool thread; it never waits for writers."""
        return await asyncio.wrap_future(self._readers.submit(unit))

    def close(self) -> None:
        """Let queued units finish, stop the thread and close the connections."""
        if self._checkpointing is not None:
            self._checkpointing.cancel()
        self._writer.close()
        self._readers.close()
        if self._inline is not None:
            with contextlib.suppress(Exception):
                self._inline.close()
            self._inline = None
        self.engine.dispose()


_lanes: weakref.WeakKeyDictionary[AsyncEngine, WriterLane] = weakref.WeakKeyDictionary()


def lane_for(engine: AsyncEngine, settings: Settings) -> WriterLane:
    """The lane of ``engine``'s database, shared by every Store on that engine."""
    lane = _lanes.get(engine)
    if lane is None:
        sync_engine = create_sync_engine(
            settings, url=DatabaseUrl.parse(engine.url)
        ).execution_options(**{SQLITE_WAIT_IN_STEPS: True})
        lane = WriterLane(sync_engine, wait_seconds=settings.sqlite_busy_timeout_ms / 1000)
        _lanes[engine] = lane
    return lane


def close_lane(engine: AsyncEngine) -> None:
    """Close ``engine``'s lane, if it has one (when the engine is disposed)."""
    lane = _lanes.pop(engine, None)
    if lane is not None:
        lane.close()

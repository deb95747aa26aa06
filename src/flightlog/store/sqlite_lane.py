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
import queue
import threading
import weakref
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from flightlog.db.engine import create_sync_engine
from flightlog.db.failures import unavailable_error
from flightlog.db.urls import DatabaseUrl
from flightlog.settings import Settings

if TYPE_CHECKING:
    import uuid

    from flightlog.store.sync import SyncStore

R = TypeVar("R")
#: Threads that run reads (each on its own pooled connection).
_READERS = 4


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
        self._lock = threading.Lock()

    def submit(self, job: Callable[[], R]) -> Future[R]:
        with self._lock:
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
            started, self._started = self._started, False
        if not started:
            return
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join()


#: Synchronous twins remembered per lane (one per customer the process acts for).
_MAX_TWINS = 1024


class WriterLane:
    """One SQLite database's write queue, writer thread and synchronous engine, in one process."""

    def __init__(self, engine: Engine, *, wait_seconds: float) -> None:
        #: Synchronous sqlite3 engine with Flightlog's pragmas (same file as the async engine).
        self.engine = engine
        self._wait_seconds = wait_seconds
        self._writer = _Threads(1, "flightlog-sqlite-writer")
        self._readers = _Threads(_READERS, "flightlog-sqlite-reader")
        # One lock per event loop: an asyncio.Lock belongs to the loop that first waits on it.
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._twins: dict[tuple[uuid.UUID, int], tuple[Settings, SyncStore]] = {}

    def twin(self, customer_id: uuid.UUID, settings: Settings) -> SyncStore:
        """The synchronous Store, on this lane's engine, that runs an async Store's calls.

        Kept per customer (and settings), since the API builds a Store per request.
        """
        from flightlog.store.sync import SyncStore

        key = (customer_id, id(settings))
        found = self._twins.get(key)
        if found is not None and found[0] is settings:
            return found[1]
        if len(self._twins) >= _MAX_TWINS:
            self._twins.clear()
        twin = SyncStore(self.engine, settings, customer_id)
        self._twins[key] = (settings, twin)
        return twin

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    async def _admit(self) -> asyncio.Lock:
        """Wait for this loop's turn to write, as long as SQLite's busy timeout would have."""
        lock = self._lock()
        if not lock.locked():
            await lock.acquire()  # free: taken at once, without a timer
            return lock
        try:
            await asyncio.wait_for(lock.acquire(), self._wait_seconds)
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
        lock = await self._admit()
        try:
            future = asyncio.wrap_future(self._writer.submit(unit))
        except BaseException:
            lock.release()
            raise
        # Released when the unit ends, not when a cancelled caller stops waiting.
        future.add_done_callback(lambda _: lock.release())
        future.add_done_callback(lambda done: done.cancelled() or done.exception())
        return await asyncio.shield(future)

    async def read(self, unit: Callable[[], R]) -> R:
        """Run ``unit`` (a read-only transaction) on a pool thread; it never waits for writers."""
        return await asyncio.wrap_future(self._readers.submit(unit))

    def close(self) -> None:
        """Let queued units finish, stop the thread and close the connections."""
        self._writer.close()
        self._readers.close()
        self.engine.dispose()


_lanes: weakref.WeakKeyDictionary[AsyncEngine, WriterLane] = weakref.WeakKeyDictionary()


def lane_for(engine: AsyncEngine, settings: Settings) -> WriterLane:
    """The lane of ``engine``'s database, shared by every Store on that engine."""
    lane = _lanes.get(engine)
    if lane is None:
        sync_engine = create_sync_engine(settings, url=DatabaseUrl.parse(engine.url))
        lane = WriterLane(sync_engine, wait_seconds=settings.sqlite_busy_timeout_ms / 1000)
        _lanes[engine] = lane
    return lane


def close_lane(engine: AsyncEngine) -> None:
    """Close ``engine``'s lane, if it has one (when the engine is disposed)."""
    lane = _lanes.pop(engine, None)
    if lane is not None:
        lane.close()

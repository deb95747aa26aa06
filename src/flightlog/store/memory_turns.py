"""Units of work take turns on an in-memory database's one connection.

An in-memory SQLite database is one sqlite3 connection (:mod:`flightlog.db.memory`),
and a connection holds one transaction at a time: two units of work at once
would meet "cannot start a transaction within a transaction", or worse, one
would commit the other's half-done work. So every unit of work of a Store on
such a database, reads included, waits for its turn, in order: writes are
serialised, and a read waits for the write before it.

A unit started inside another unit of the same Store (a Store call made in
``async with store.transaction()``) could never get its turn; it is refused
with a :class:`~flightlog.errors.ConfigurationError` instead of waiting forever.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from contextvars import ContextVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flightlog.errors import ConfigurationError


def _nested() -> ConfigurationError:
    return ConfigurationError(
        "An in-memory database has one connection, and it is busy with the unit of work "
        "this call was made in (store.transaction() or store.reader()): use the session it "
        "gave you (the services take it), or call the Store after the block ends."
    )


class MemoryTurns:
    """One unit of work at a time: for the async Store per event loop, for the sync Store
    per process (threads)."""

    def __init__(self) -> None:
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._holding: ContextVar[bool] = ContextVar(f"flightlog_memory_{id(self)}", default=False)
        self._thread_lock = threading.Lock()
        self._thread_holding = threading.local()

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Wait for this unit's turn (FIFO); refuse a unit nested in one holding it."""
        if self._holding.get():
            raise _nested()
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        async with lock:
            token = self._holding.set(True)
            try:
                yield
            finally:
                self._holding.reset(token)

    @contextmanager
    def sync_turn(self) -> Iterator[None]:
        """The same for threads (the synchronous Store)."""
        if getattr(self._thread_holding, "on", False):
            raise _nested()
        with self._thread_lock:
            self._thread_holding.on = True
            try:
                yield
            finally:
                self._thread_holding.on = False


_turns: weakref.WeakKeyDictionary[object, MemoryTurns] = weakref.WeakKeyDictionary()
_turns_lock = threading.Lock()


def turns_for(engine: object) -> MemoryTurns:
    """The turns of ``engine``'s one connection, shared by every Store on that engine.

    An app built on a Store's engine (``create_app(engine=store.engine)``) makes
    a Store per request: they all wait in the same line.
    """
    with _turns_lock:
        turns = _turns.get(engine)
        if turns is None:
            turns = _turns[engine] = MemoryTurns()
        return turns


#: What opens a session to use in ``async with``: a sessionmaker, or one that waits its turn.
Sessions = Callable[[], AbstractAsyncContextManager[AsyncSession]]


def sessions_taking_turns(
    sessions: async_sessionmaker[AsyncSession], turns: MemoryTurns
) -> Sessions:
    """Sessions that each wait for a turn first: for code beside a Store on the same
    in-memory engine (the HTTP API's key checks and health probe)."""

    @asynccontextmanager
    async def opened() -> AsyncIterator[AsyncSession]:
        async with turns.turn(), sessions() as session:
            yield session

    return opened

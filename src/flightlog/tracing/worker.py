"""The tracer's one background thread: its own event loop, the backend, the sending.

Agent code never waits for Flightlog: it appends to the :class:`Buffer`, and
this thread takes the queue when something is due (a lifecycle record, a
full batch, the oldest record ``flush_interval`` old, a flush or close) and
delivers it. The backend (an async Store or an HTTP client) is opened here,
in this thread's loop, and retried like any call while Flightlog is down.

The thread is a daemon, so a program that forgets to close its tracer still
exits; the tracer's ``atexit`` hook gives it ``exit_timeout`` seconds first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from contextlib import AsyncExitStack

from flightlog.db.failures import cause_chain, database_unreachable
from flightlog.errors import ConfigurationError, DatabaseUnavailable, MigrationError
from flightlog.tracing.backend import Backend, BackendOpener
from flightlog.tracing.buffer import Buffer, Queued
from flightlog.tracing.config import TracerConfig
from flightlog.tracing.delivery import Delivery
from flightlog.tracing.records import FinishStep, RunRecord, StartRun, StartStep
from flightlog.tracing.retry import Failed, Retrier

log = logging.getLogger("flightlog.tracing")

#: How long ``stop(timeout)`` waits past its deadline for the backend to close.
CLOSING_GRACE_SECONDS = 1.0


def _can_open_later(error: BaseException) -> bool:
    """Opening is retried unless the settings or the schema are unusable as they are.

    A database out of reach is an outage like any other, even when opening
    reports it as a configuration or migration error ("Cannot reach the
    database …"): a program started before its database must not lose its
    tracing for good.
    """
    if any(isinstance(cause, DatabaseUnavailable) for cause in cause_chain(error)):
        return True
    if database_unreachable(error):
        return True
    return not isinstance(error, ConfigurationError | MigrationError)


class Worker:
    """Delivers one buffer through one backend, on a thread of its own."""

    def __init__(self, buffer: Buffer, opener: BackendOpener, config: TracerConfig) -> None:
        self._buffer = buffer
        self._opener = opener
        self._config = config
        self._loop: asyncio.AbstractEventLoop | None = None
        self._work: asyncio.Event | None = None
        self._retrier: Retrier | None = None
        self._deadline: float | None = None
        self._thread = threading.Thread(target=self._run, name="flightlog-tracer", daemon=True)
        self._starting = threading.Lock()
        self._started = False
        #: Set once opening the backend has succeeded or been given up (or the thread ended).
        self._opened = threading.Event()

    def start(self) -> None:
        """Start the thread, once; later calls do nothing (so it can be started lazily)."""
        with self._starting:
            if self._started:
                return
            self._started = True
        self._thread.start()

    def start_on_notice(self, urgent: bool) -> None:
        """The buffer's ``notify`` until the thread runs: the first record starts it."""
        self.start()

    @property
    def started(self) -> bool:
        return self._started

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def hold_calls(self, timeout: float) -> bool:
        """Before ``os.fork``: wait (at most ``timeout`` s) for the call in progress to end.

        A child forked while this worker is inside the database would inherit
        a lock the driver holds (SQLite's own mutexes, the migrations' lock)
        with no thread left to release it, and hang at its first query. True
        when held: ``release_calls`` after the fork, in the parent.
        """
        retrier = self._retrier
        return retrier is not None and retrier.calls.acquire(timeout=timeout)

    def release_calls(self) -> None:
        if self._retrier is not None:
            self._retrier.calls.release()

    def wait_opened(self, timeout: float | None) -> bool:
        """Whether the backend is open (or will never be) within ``timeout`` seconds."""
        return self._opened.wait(timeout)

    def stop(self, timeout: float | None) -> bool:
        """Close the buffer, deliver what it holds, give up failing sends after ``timeout``.

        Returns whether the thread ended (within ``timeout`` and a second's grace).
        """
        if timeout is not None:
            self._deadline = time.monotonic() + timeout
            if self._retrier is not None:
                self._retrier.deadline = self._deadline
        self._buffer.close()
        if threading.current_thread() is self._thread:
            return False
        self.start()  # never started (a forked child's lazy worker): it drains the queue now
        # Past the deadline the worker gives up, then closes the backend: a moment more.
        self._thread.join(None if timeout is None else timeout + CLOSING_GRACE_SECONDS)
        return not self._thread.is_alive()

    # --- Any thread ----------------------------------------------------------------------------

    def _notify(self, urgent: bool) -> None:
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop has ended: nothing left to wake
            loop.call_soon_threadsafe(self._wake, urgent)

    # --- The worker's thread -------------------------------------------------------------------

    def _wake(self, urgent: bool) -> None:
        if self._work is not None:
            self._work.set()
        if urgent and self._retrier is not None:
            self._retrier.urgent.set()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:
            log.exception("Flightlog tracing: the worker stopped on an unexpected error")
        finally:
            self._loop = None
            self._opened.set()
            self._buffer.wake_waiters()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._work = asyncio.Event()
        self._retrier = Retrier(self._buffer, self._config)
        self._retrier.deadline = self._deadline
        self._buffer.notify = self._notify
        async with AsyncExitStack() as stack:
            backend = await self._retrier.attempt(
                lambda: stack.enter_async_context(self._opener()),
                "open Flightlog",
                transient=_can_open_later,
            )
            self._opened.set()
            if isinstance(backend, Failed):
                if not backend.gave_up:
                    log.error(
                        "Flightlog tracing is off: Flightlog cannot be opened (%s); "
                        "records are counted as refused",
                        backend.error,
                    )
                    await self._serve(None)
                return
            await self._serve(backend)

    async def _serve(self, backend: Backend | None) -> None:
        assert self._work is not None
        assert self._retrier is not None
        delivery = Delivery(self._buffer, backend, self._retrier, self._config) if backend else None
        while True:
            due = self._buffer.due()
            if due == 0:
                items = self._buffer.take()
                if not items:
                    if self._buffer.closed:
                        return
                    continue
                if delivery is None:
                    _refuse_all(self._buffer, items, "Flightlog cannot be opened")
                    continue
                try:
                    delivered = await delivery.deliver(items)
                except Exception:
                    # A bug, or a value no check foresaw: refuse what is left of this
                    # stretch rather than let the thread die with everything after it.
                    log.exception(
                        "Flightlog tracing: an unexpected error while sending; the records "
                        "not yet written are refused and the worker goes on"
                    )
                    rest = self._buffer.unsettled(items)
                    if rest:
                        _refuse_all(self._buffer, rest, "an unexpected error while sending")
                    self._buffer.advance(items[-1][0])
                    continue
                if not delivered:
                    return  # given up at the stop deadline: the rest stays pending
                continue
            self._work.clear()
            due = self._buffer.due()  # a record may have come between the look and the clear
            if due == 0:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._work.wait(), due)


def _refuse_all(buffer: Buffer, items: list[Queued], reason: str) -> None:
    """Settle ``items`` as refused, and whoever waits for their ids is told (never left waiting)."""
    for _seq, record in items:
        if isinstance(record, StartRun):
            _refuse_run(record.run, reason)
        elif isinstance(record, StartStep | FinishStep) and not record.step.id.done():
            record.step.id.refuse(reason)
    buffer.settle(items, refused=len(items))
    buffer.advance(items[-1][0])


def _refuse_run(run: RunRecord, reason: str) -> None:
    if not run.id.done():
        run.id.refuse(reason)
    if not run.task_id.done():
        run.task_id.refuse(reason)

"""The sink inside a serving process: aggregates from it while it is fresh, the tail loop
too when the store is chdb.

chdb's directory has one owner, and the owner must answer the aggregates, so
``flightlog serve`` with a ``chdb://`` sink runs the worker in a thread of its
one process (:meth:`SinkRuntime.start`) and serves from the same session. With a
``clickhouse://`` server, ``flightlog sink run`` is the worker and every API
process only reads.

Nothing here may fail a user's read: :meth:`SinkRuntime.answer` returns None
(the caller asks the database) when the sink is not configured, cannot be
reached, is behind by more than ``sink_max_lag_seconds``, does not hold the
window asked for (older than its retention), or errs. A sink that went away is
asked again after :data:`RETRY_SECONDS`, never on every request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from flightlog.errors import FlightlogError
from flightlog.settings import Settings
from flightlog.sink.backend import NotHeld, SinkBackend, SinkUnavailable, open_backend
from flightlog.sink.progress import NEVER, load
from flightlog.sink.status import write_status_file
from flightlog.sink.url import SinkUrl

log = logging.getLogger("flightlog.sink")
T = TypeVar("T")
#: How long a sink that failed is left alone before it is tried again.
RETRY_SECONDS = 10.0
#: How often a reader (not the owner) re-reads the worker's progress from a server.
PROGRESS_SECONDS = 1.0


class SinkRuntime:
    """One process's view of the sink: its backend, how fresh it is, and (chdb) the worker."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = SinkUrl.parse(settings.sink_url)
        self.owner = self.url.kind == "chdb"
        self._backend: SinkBackend | None = None
        self._caught_up_at = NEVER
        self._checked_at = 0.0
        self._down_until = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    # --- the owner's tail loop (chdb) ------------------------------------------------------------

    def start(self) -> None:
        """Start the worker thread (chdb only: a server's worker is ``flightlog sink run``)."""
        if self.owner and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="flightlog-sink", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        with self._lock:
            if self._backend is not None:
                self._backend.close()
                self._backend = None

    def _run(self) -> None:
        from flightlog.db.engine import create_sync_engine
        from flightlog.sink.worker import SinkWorker

        engine = create_sync_engine(self.settings)
        try:
            while not self._stop.is_set():
                try:
                    backend = self._connect()
                    worker = SinkWorker(
                        backend,
                        engine,
                        batch_rows=self.settings.sink_batch_rows,
                        retention_days=self.settings.sink_retention_days,
                    )
                    worker.start()
                    while not self._stop.is_set():
                        report = worker.cycle()
                        self._caught_up_at = worker.progress.caught_up_at
                        write_status_file(self.url, worker.progress, report)
                        if report.caught_up:
                            self._stop.wait(self.settings.sink_poll_seconds)
                except Exception as exc:  # the database or the sink: log, wait, start again
                    self._failed(exc)
                    self._stop.wait(RETRY_SECONDS)
        finally:
            engine.dispose()

    # --- reading ---------------------------------------------------------------------------------

    def _connect(self) -> SinkBackend:
        with self._lock:
            if self._backend is None:
                if time.monotonic() < self._down_until:
                    raise SinkUnavailable(self.last_error or "the sink is down")
                self._backend = open_backend(self.url)
            return self._backend

    def _failed(self, exc: Exception) -> None:
        message = exc.message if isinstance(exc, FlightlogError) else f"{type(exc).__name__}: {exc}"
        if message != self.last_error:
            log.warning("columnar sink: %s (the database answers meanwhile)", message)
        self.last_error = message
        self._down_until = time.monotonic() + RETRY_SECONDS
        if not self.owner:
            with self._lock:
                if self._backend is not None:
                    self._backend.close()
                self._backend = None

    def caught_up_at(self) -> datetime:
        """When the worker last had nothing left to copy (a server's is read from its progress)."""
        if not self.owner and time.monotonic() - self._checked_at > PROGRESS_SECONDS:
            self._caught_up_at = load(self._connect()).caught_up_at
            self._checked_at = time.monotonic()
        return self._caught_up_at

    def lag_seconds(self) -> float:
        return max(0.0, (datetime.now(UTC) - self.caught_up_at()).total_seconds())

    def answer(self, question: Callable[[SinkBackend], T], oldest: datetime | None) -> T | None:
        """``question`` asked of the sink, or None when the database should answer instead.

        Blocking (chdb and clickhouse-connect are): call it in a thread from async code.
        """
        if time.monotonic() < self._down_until:
            return None
        horizon = datetime.now(UTC) - timedelta(days=self.settings.sink_retention_days - 1)
        if oldest is not None and oldest < horizon:
            return None  # the sink no longer holds the start of that window
        try:
            if self.owner and self._backend is None:
                return None  # the worker has not opened it (yet)
            backend = self._connect()
            if self.lag_seconds() > self.settings.sink_max_lag_seconds:
                return None
            return question(backend)
        except NotHeld:
            return None  # past the retention: the database holds what the sink dropped
        except FlightlogError as exc:
            if not isinstance(exc, SinkUnavailable):
                raise  # the question's own refusal (a bad window): the database's would be the same
            self._failed(exc)
            return None
        except Exception as exc:  # a read must not fail because the sink did
            self._failed(exc)
            return None

"""The sink in this process: chdb-core (ClickHouse as a library) on a data directory.

chdb has two hard limits that shape the whole sink: one process per data
directory (a second one fails with "Cannot lock file …/status") and one data
directory per process for the life of the process. So the directory has one
owner, which both writes (``flightlog sink run``, or ``flightlog serve`` with
the worker in a thread) and answers the aggregates. Before opening, the lock
ClickHouse takes on ``<dir>/status`` is tried here, so a busy directory is a
:class:`SinkBusy` naming the owner's pid rather than chdb's stderr noise.
Calls are serialised by a lock: the worker's thread and the request handlers
share one session. Parameters are bound by clickhouse-connect's ``bind_query``
(the same extra installs both), so chdb receives the very text a server would.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import threading
from datetime import UTC
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.binding import bind_query

from flightlog.errors import ConfigurationError
from flightlog.sink.backend import SinkBusy, SinkUnavailable, rows_of
from flightlog.sink.statements import Insert, Statement
from flightlog.sink.url import SinkUrl

#: The one data directory this process has opened (chdb cannot switch to another).
_opened: Path | None = None
_opened_lock = threading.Lock()


def owner_pid(directory: Path) -> int | None:
    """The pid of the process holding ``directory``, or None when no process does."""
    status = directory / "status"
    if not status.exists():
        return None
    fd = os.open(status, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            found = re.search(r"PID:\s*(\d+)", status.read_text(errors="replace"))
            return int(found.group(1)) if found else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class ChdbBackend:
    """chdb on ``url.path``; :class:`SinkBusy` if another process owns the directory."""

    def __init__(self, url: SinkUrl) -> None:
        global _opened
        assert url.path is not None
        self.url = url
        path = url.path
        with _opened_lock:
            if _opened is not None and _opened != path:
                raise ConfigurationError(
                    f"This process already opened the chdb sink at {_opened}, and chdb keeps one "
                    f"data directory per process; use that directory, not {path}."
                )
            owner = owner_pid(path) if path.exists() else None
            if owner is not None and owner != os.getpid():
                raise SinkBusy(
                    f"The chdb sink at {path} is owned by process {owner} (flightlog serve or "
                    "flightlog sink run); one process owns a chdb directory: stop it, or ask it.",
                    pid=owner,
                )
            from chdb import session

            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # a file, under a file, not allowed, not creatable
                raise ConfigurationError(
                    f"The chdb sink directory {path} cannot be made or used "
                    f"({exc.strerror or type(exc).__name__}): give FLIGHTLOG_SINK_URL a directory "
                    "this user can create and write."
                ) from exc

            try:
                self._session: Any = session.Session(str(path))  # type: ignore[no-untyped-call]
            except Exception as exc:  # chdb raises RuntimeError with ClickHouse's text
                raise SinkUnavailable(
                    f"chdb could not open the sink at {path} ({exc}); check the directory."
                ) from exc
            _opened = path
        self._lock = threading.Lock()

    def _run(self, statement: Statement, fmt: str, data: str | None = None) -> bytes:
        # Bound exactly as clickhouse-connect binds it for a server (``param_<name>`` text),
        # so chdb parses the same parameter text a server would.
        sql, bound = bind_query(statement.sql, dict(statement.params) or None, UTC)
        params = {name.removeprefix("param_"): value for name, value in bound.items()}
        query = sql.decode() if isinstance(sql, bytes) else sql
        text = query if data is None else f"{query}\n{data}"
        with self._lock:
            if self._session is None:
                raise SinkUnavailable(f"The chdb sink at {self.url.path} is closed.")
            result = self._session.query(text, fmt, params=params or None)
            raw: bytes = result.bytes()
            return raw

    def command(self, statement: Statement) -> None:
        self._run(statement, "CSV")

    def insert(self, batch: Insert) -> None:
        if batch.rows:
            self._run(Statement(batch.sql), "CSV", batch.payload)

    def select(self, statement: Statement) -> list[list[Any]]:
        return rows_of(self._run(statement, "JSONCompact"))

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                self._session.close()
                self._session = None

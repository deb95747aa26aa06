"""The sink on a ClickHouse server, over HTTP with clickhouse-connect (production).

It sends the statements of :mod:`flightlog.sink.statements` unchanged: queries
through ``raw_query`` (the SQL already ends in ``FORMAT JSONCompact``) and
everything else through ``command``, with parameters bound server-side
(``{name:Type}`` becomes ``param_name`` on the request). No ClickHouse server
runs in this project's tests: the contract test runs the same statements, bound
by clickhouse-connect's own ``bind_query``, on chdb instead; the network path
itself is not exercised here (docs/sink.md says so).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from flightlog.sink.backend import SinkUnavailable, rows_of
from flightlog.sink.statements import Insert, Statement
from flightlog.sink.url import SinkUrl

CONNECT_TIMEOUT_SECONDS = 5
QUERY_TIMEOUT_SECONDS = 30
#: ClickHouse's codes for a user it does not let in (wrong password, unknown user, …).
_AUTH_CODES = {192, 193, 194, 516}
#: How an unreachable server shows in the driver's text, and what the message says then.
_UNREACHABLE = (
    (("refused",), "connection refused"),
    (("timed out", "timeout"), "timed out"),
    (("name or service not known", "nodename nor servname", "name resolution"), "no such host"),
    (("reset by peer", "remote end closed", "connection aborted"), "connection cut off"),
)

# clickhouse-connect logs "Unexpected Http Driver Exception" before raising what it logged;
# without a handler of its own Python's last resort printed it on stderr above our sentence.
logging.getLogger("clickhouse_connect").addHandler(logging.NullHandler())


def client_arguments(url: SinkUrl) -> dict[str, Any]:
    """What ``clickhouse_connect.get_client`` is given for ``url`` (no database: the
    statements name theirs, and it may not exist before ``ensure_schema``)."""
    return {
        "host": url.host,
        "port": url.port,
        "username": url.username,
        "password": url.password,
        "secure": url.secure,
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "send_receive_timeout": QUERY_TIMEOUT_SECONDS,
        "autogenerate_session_id": False,
    }


class ClickHouseServerBackend:
    """A clickhouse-connect client on ``url``; SinkUnavailable when the server cannot be reached."""

    def __init__(self, url: SinkUrl) -> None:
        import clickhouse_connect
        from clickhouse_connect.driver.exceptions import OperationalError

        self.url = url
        # Unreachable, refused, timed out, cut off: the sink is down. A statement the server
        # refuses (DatabaseError) is a bug of the sink's SQL and is raised as it is.
        self._errors: tuple[type[Exception], ...] = (OperationalError, OSError)
        try:
            self._client: Any = clickhouse_connect.get_client(**client_arguments(url))
        except self._errors as exc:
            raise self._unavailable(exc) from exc
        except Exception as exc:  # it answered, but not as a ClickHouse server that lets us in
            raise self._refused(exc) from exc

    def _where(self) -> str:
        return f"{self.url.host}:{self.url.port}"

    def _unavailable(self, exc: Exception) -> SinkUnavailable:
        text = str(exc).lower()
        reason = next(
            (said for marks, said in _UNREACHABLE if any(mark in text for mark in marks)),
            type(exc).__name__,
        )
        return SinkUnavailable(
            f"The ClickHouse server {self.url.redacted()} did not answer at {self._where()} "
            f"({reason}); start it or fix the host and port in FLIGHTLOG_SINK_URL."
        )

    def _refused(self, exc: Exception) -> SinkUnavailable:
        text = str(exc)
        code = re.search(r"(?:exception, code: |Code: )(\d+)", text)
        if code is not None and int(code.group(1)) in _AUTH_CODES:
            return SinkUnavailable(
                f"The ClickHouse server {self.url.redacted()} refused user "
                f"{self.url.username!r} (ClickHouse code {code.group(1)}): check the user and "
                "password in FLIGHTLOG_SINK_URL."
            )
        if code is not None:
            return SinkUnavailable(
                f"The ClickHouse server {self.url.redacted()} refused the connection (ClickHouse "
                f"code {code.group(1)}): check the user's grants and FLIGHTLOG_SINK_URL."
            )
        status = re.search(r"HTTP status (\d+)", text)
        answered = f"it answered HTTP {status.group(1)}" if status else type(exc).__name__
        return SinkUnavailable(
            f"The service at {self._where()} ({self.url.redacted()}) is not a ClickHouse "
            f"server's HTTP interface ({answered}): point FLIGHTLOG_SINK_URL at ClickHouse's "
            "HTTP port (8123, or 8443 with clickhouses://)."
        )

    def command(self, statement: Statement) -> None:
        try:
            self._client.command(statement.sql, parameters=dict(statement.params) or None)
        except self._errors as exc:
            raise self._unavailable(exc) from exc

    def insert(self, batch: Insert) -> None:
        if not batch.rows:
            return
        try:
            self._client.command(batch.sql, data=batch.payload.encode())
        except self._errors as exc:
            raise self._unavailable(exc) from exc

    def select(self, statement: Statement) -> list[list[Any]]:
        try:
            raw = self._client.raw_query(statement.sql, parameters=dict(statement.params) or None)
        except self._errors as exc:
            raise self._unavailable(exc) from exc
        return rows_of(raw)

    def close(self) -> None:
        self._client.close()

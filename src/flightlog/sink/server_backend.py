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

from typing import Any

from flightlog.sink.backend import SinkUnavailable, rows_of
from flightlog.sink.statements import Insert, Statement
from flightlog.sink.url import SinkUrl

CONNECT_TIMEOUT_SECONDS = 5
QUERY_TIMEOUT_SECONDS = 30


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

    def _unavailable(self, exc: Exception) -> SinkUnavailable:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return SinkUnavailable(
            f"The ClickHouse server at {self.url.redacted()} did not answer ({reason[:200]}); "
            "start it or fix FLIGHTLOG_SINK_URL."
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

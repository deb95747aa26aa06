"""One hierarchy of domain errors, so every caller can catch what it handles.

The CLI maps these to exit codes; :data:`HTTP_STATUSES` below is the one
table the HTTP API answers with and the HTTP client reads back (an error's
``code`` names its class on both sides). Services never raise
transport-specific errors.
"""

from __future__ import annotations

from typing import Any


class FlightlogError(Exception):
    """Base of every error Flightlog raises on purpose."""

    code = "flightlog_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ConfigurationError(FlightlogError):
    """Settings or a database URL that Flightlog cannot use."""

    code = "configuration_error"


class ValidationError(FlightlogError):
    """Input that breaks a rule of the domain; nothing was written."""

    code = "validation_error"


class PayloadTooLarge(ValidationError):
    """A request body over the server's ``FLIGHTLOG_API_MAX_BODY_BYTES``; nothing was written."""

    code = "payload_too_large"


class NotFound(FlightlogError):
    """The entity does not exist, or is not visible to the caller's tenant."""

    code = "not_found"


class Conflict(FlightlogError):
    """The write collides with existing data (a unique key, a concurrent change)."""

    code = "conflict"


class PermissionDenied(FlightlogError):
    """The caller may not do this: a suspended or churned customer, a revoked API key."""

    code = "permission_denied"


class Unauthenticated(PermissionDenied):
    """No usable credentials at all: HTTP 401, unlike a known key that may not do this (403)."""

    code = "unauthenticated"


class InvalidTransition(FlightlogError):
    """A status change that the lifecycle's transition table does not allow."""

    code = "invalid_transition"

    def __init__(self, entity: str, from_status: str, to_status: str) -> None:
        super().__init__(
            f"{entity} cannot move from {from_status} to {to_status}",
            entity=entity,
            from_status=from_status,
            to_status=to_status,
        )
        self.entity = entity
        self.from_status = from_status
        self.to_status = to_status


class DatabaseUnavailable(FlightlogError):
    """The database cannot serve right now (down, restarting, unreachable, locked); retry later.

    Nothing was written. The HTTP API answers 503 with ``Retry-After``.
    """

    code = "database_unavailable"


class WriteCollision(DatabaseUnavailable):
    """Concurrent writes deadlocked (or could not be serialised) and this one was rolled back.

    Nothing was written. The Store already tried the call again a few times
    (when it owned the transaction), so what reaches a caller is a busy moment,
    not a bad request: retry later, as for :class:`DatabaseUnavailable`, whose
    subclass this is. The HTTP API answers 503 with ``Retry-After``.
    """

    code = "write_collision"


class ServerUnreachable(DatabaseUnavailable):
    """The HTTP client got no answer from the server (refused, timed out, cut off); retry later.

    Raised by :mod:`flightlog.client` only. A subclass of ``DatabaseUnavailable``
    so that one ``except`` retries both; but unlike it, when
    ``details["request_sent"]`` is true the request may have reached the server,
    so a write may have happened.
    """

    code = "server_unreachable"


class StatementTimeout(FlightlogError):
    """A statement ran past ``FLIGHTLOG_STATEMENT_TIMEOUT_MS`` and PostgreSQL cancelled it.

    The transaction was rolled back: nothing was written. Not a
    :class:`DatabaseUnavailable` (the database answers; this request asked too
    much of it), so a blind retry is not the fix: narrow the request (a smaller
    page, a tighter filter) or raise the timeout. The HTTP API answers 504.
    SQLite has no statement timeout; its busy timeout (waiting for the write
    lock) ends in :class:`DatabaseUnavailable` instead.
    """

    code = "statement_timeout"


class MigrationError(FlightlogError):
    """The schema is not at the revision the code needs, or a migration failed."""

    code = "migration_error"


#: The HTTP status of each error the API answers, most specific first: the first class an
#: error is an instance of decides. The server answers with it (:mod:`flightlog.api.errors`)
#: and the client turns a body's ``code`` back into the class (:func:`error_class`).
HTTP_STATUSES: tuple[tuple[type[FlightlogError], int], ...] = (
    (Unauthenticated, 401),
    (PermissionDenied, 403),
    (NotFound, 404),
    (InvalidTransition, 409),
    (Conflict, 409),
    (PayloadTooLarge, 413),
    (ValidationError, 422),
    (WriteCollision, 503),
    (DatabaseUnavailable, 503),
    (StatementTimeout, 504),
)
_BY_CODE = {kind.code: kind for kind, _status in HTTP_STATUSES}


def http_status(error: FlightlogError) -> int:
    """The status the API answers ``error`` with: 500 for a class not in the table."""
    for kind, status in HTTP_STATUSES:
        if isinstance(error, kind):
            return status
    return 500


def error_class(code: str) -> type[FlightlogError]:
    """The class an error body's ``code`` names (``FlightlogError`` for one not in the table)."""
    return _BY_CODE.get(code, FlightlogError)

"""What a driver error means: the caller's bad value, or a database out of reach.

Drivers wrap what went wrong in layers (SQLAlchemy's ``DBAPIError`` around
asyncpg's or psycopg's exception around an ``OSError``), so every question
here walks the whole cause chain. The Store uses these to raise the domain
error a caller can act on; the HTTP API uses them to answer 503 rather than
500 for requests that fail outside a Store (authentication, the dashboard).
"""

from __future__ import annotations

import functools
import socket
import sqlite3
from collections.abc import Iterator

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from flightlog.errors import DatabaseUnavailable, StatementTimeout, WriteCollision

#: SQLSTATEs of a server that is going away, starting up or full: retrying later helps.
#: Class 08 is "connection exception"; 57P01-57P03 are admin shutdown, crash
#: shutdown and "cannot connect now"; 53300 is too many connections.
_UNAVAILABLE_STATES = frozenset({"57P01", "57P02", "57P03", "53300"})
#: PostgreSQL's "deadlock_detected" and "serialization_failure": this transaction was chosen
#: to give way to a concurrent one and rolled back; the same work succeeds when run again.
_COLLISION_STATES = frozenset({"40P01", "40001"})
#: PostgreSQL's "query_canceled": statement_timeout (or an operator's pg_cancel_backend).
QUERY_CANCELED = "57014"
#: Words of asyncpg's and psycopg's messages for a connection that is already gone.
_CLOSED_CONNECTION_WORDS = ("connection is closed", "connection was closed", "server closed")
#: SQLite's operational errors that are about the file or its lock, not about the SQL:
#: a syntax error is an OperationalError too, and that one is a bug, not an outage.
_SQLITE_UNAVAILABLE_WORDS = (
    "database is locked",
    "database table is locked",
    "unable to open database file",
    "disk i/o error",
    "database or disk is full",
    "readonly database",
)


@functools.cache
def driver_errors() -> tuple[type[Exception], ...]:
    """Every family of exception a database access can raise.

    SQLAlchemy wraps most driver errors, but not all: asyncpg's refusal while
    connecting (say, "the database system is shutting down") reaches the
    caller as asyncpg raised it. A function rather than a constant because
    importing asyncpg and psycopg costs ~70 ms, the Store imports this module
    on every ``from flightlog import open_store``, and only the HTTP API's
    error handlers and health check need the tuple (issue 13).
    """
    import asyncpg  # type: ignore[import-untyped]  # no type information shipped
    import psycopg

    return (
        SQLAlchemyError,
        OSError,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        psycopg.Error,
        sqlite3.Error,
    )


def cause_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, then what it wraps: SQLAlchemy's ``orig``, else ``__cause__``, each once."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__


def sqlstate(exc: BaseException) -> str:
    """The SQLSTATE a driver error carries somewhere in its cause chain ('' if none)."""
    for cause in cause_chain(exc):
        state = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
        if isinstance(state, str):
            return state
    return ""


def value_problem(exc: BaseException) -> BaseException | None:
    """The ValueError or OverflowError at the root of a driver error, if that is what it is.

    Drivers wrap a Python value they cannot send (an integer past 64 bits, a
    float JSON cannot hold) in their own exception types; the cause chain
    still names it.
    """
    return next((c for c in cause_chain(exc) if isinstance(c, ValueError | OverflowError)), None)


def write_collided(exc: BaseException) -> bool:
    """Whether ``exc`` is a deadlock or serialisation failure: worth running the work again."""
    return sqlstate(exc) in _COLLISION_STATES


def collision_error() -> WriteCollision:
    """The domain error for a transaction rolled back to let a concurrent one through."""
    return WriteCollision(
        "the write collided with concurrent writes (a deadlock) and was rolled back; "
        "nothing was written: try it again",
        outcome="not_written",
    )


def database_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot serve right now, whatever the request was.

    True for a refused, reset or timed-out connection, a server shutting
    down or starting up, a full server, an exhausted pool, a connection that
    SQLAlchemy found dead, and SQLite's operational failures (a lock not
    granted within the busy timeout, an unreadable or full disk). False for
    anything the request itself caused (a bad value, a broken constraint) and
    for bugs (SQL that does not compile), which stay server errors.
    """
    for cause in cause_chain(exc):
        if isinstance(cause, PoolTimeout | ConnectionError | TimeoutError | socket.gaierror):
            return True
        if isinstance(cause, DBAPIError) and _dead_connection(cause):
            return True
        state = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
        if isinstance(state, str) and (state.startswith("08") or state in _UNAVAILABLE_STATES):
            return True
        if state == "55000" and "accepting connections" in str(cause):
            # A database an operator closed to connections (ALLOW_CONNECTIONS false); 55000
            # alone is "object not in prerequisite state", which a request can cause too.
            return True
        if type(cause) is OSError and "connect" in str(cause).lower():
            # asyncpg's "Multiple exceptions: [Errno 111] Connect call failed …", no errno.
            return True
    return False


def _dead_connection(exc: DBAPIError) -> bool:
    if exc.connection_invalidated:
        return True
    orig, message = exc.orig, str(exc.orig).lower()
    if isinstance(orig, sqlite3.Error):
        return any(words in message for words in _SQLITE_UNAVAILABLE_WORDS)
    if isinstance(exc, OperationalError):
        # psycopg's failures to connect or to keep a connection carry no SQLSTATE;
        # the server's own refusals with one are judged by their state above.
        return getattr(orig, "sqlstate", None) is None
    return isinstance(exc, InterfaceError) and any(w in message for w in _CLOSED_CONNECTION_WORDS)


def unavailable_error(*, while_committing: bool = False) -> DatabaseUnavailable:
    """The error for a database out of reach; the driver's own words belong in the log.

    A connection lost while COMMIT was on its way leaves the outcome unknown:
    the server may have committed before it went away. The error says so
    (``details["outcome"] == "unknown"``) instead of promising that nothing
    was written, so that a client checks before it repeats a write.
    """
    if while_committing:
        return DatabaseUnavailable(
            "the database became unavailable while committing: the change may or may not "
            "have been saved; check before repeating it",
            outcome="unknown",
        )
    return DatabaseUnavailable(
        "the database is unavailable right now (down, restarting or overloaded); "
        "nothing was written, retry shortly",
        outcome="not_written",
    )


def statement_timed_out(exc: BaseException) -> bool:
    """Whether PostgreSQL cancelled the statement (``statement_timeout``, SQLSTATE 57014).

    The same state covers an operator's ``pg_cancel_backend``; either way the
    statement was stopped by the server and its transaction rolled back.
    """
    return sqlstate(exc) == QUERY_CANCELED


def timeout_error() -> StatementTimeout:
    """The error for a statement PostgreSQL cancelled: one sentence, what to do, nothing written."""
    return StatementTimeout(
        "the database cancelled a statement that ran past its statement timeout "
        "(FLIGHTLOG_STATEMENT_TIMEOUT_MS, or the server's own statement_timeout); nothing "
        "was written. Ask for less (a smaller page, a narrower filter) or raise the timeout",
        outcome="not_written",
    )

"""Which driver errors mean "the database is unavailable" (503) and which do not.

The restart test meets some of these only when its timing happens to; this
table pins every kind, as the drivers raise them and as SQLAlchemy wraps
them, including the ones that must stay the caller's fault or a bug.
"""

from __future__ import annotations

import sqlite3

import asyncpg  # type: ignore[import-untyped]
import psycopg
import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from flightlog.db.failures import database_unreachable


def _wrapped(kind: type[DBAPIError], orig: Exception) -> DBAPIError:
    """As SQLAlchemy hands a driver error on: the driver's exception as ``orig``."""
    return kind("SELECT 1", None, orig)


UNAVAILABLE = {
    "asyncpg: cannot connect now (starting up)": asyncpg.exceptions.CannotConnectNowError(
        "the database system is starting up"
    ),
    "asyncpg: admin shutdown": asyncpg.exceptions.AdminShutdownError(
        "terminating connection due to administrator command"
    ),
    "asyncpg: too many connections": asyncpg.exceptions.TooManyConnectionsError("too many"),
    "asyncpg: connection does not exist": asyncpg.exceptions.ConnectionDoesNotExistError(
        "connection was closed in the middle of operation"
    ),
    "refused": ConnectionRefusedError(111, "Connection refused"),
    "reset": ConnectionResetError(104, "Connection reset by peer"),
    "asyncpg: several addresses refused": OSError(
        "Multiple exceptions: [Errno 111] Connect call failed ('127.0.0.1', 5432)"
    ),
    "timed out": TimeoutError(),
    "pool exhausted": PoolTimeout("QueuePool limit of size 5 overflow 10 reached"),
    "psycopg: cannot connect": _wrapped(
        OperationalError, psycopg.OperationalError("connection failed: Connection refused")
    ),
    "sqlite: locked past the busy timeout": _wrapped(
        OperationalError, sqlite3.OperationalError("database is locked")
    ),
    "sqlite: disk full": _wrapped(
        OperationalError, sqlite3.OperationalError("database or disk is full")
    ),
    "a closed connection": _wrapped(InterfaceError, Exception("connection is closed")),
}

NOT_UNAVAILABLE = {
    "a unique key": _wrapped(IntegrityError, sqlite3.IntegrityError("UNIQUE constraint failed")),
    "sqlite: a syntax error (a bug)": _wrapped(
        OperationalError, sqlite3.OperationalError('near "SELEC": syntax error')
    ),
    "sqlite: binding a value it cannot take": _wrapped(
        InterfaceError, sqlite3.InterfaceError("Error binding parameter 1")
    ),
    "asyncpg: a bad value": asyncpg.exceptions.InvalidTextRepresentationError("bad uuid"),
    "a missing file": FileNotFoundError(2, "No such file or directory"),
    "a value error": ValueError("nope"),
}


@pytest.mark.parametrize("error", UNAVAILABLE.values(), ids=UNAVAILABLE.keys())
def test_errors_of_a_database_out_of_reach(error: BaseException) -> None:
    assert database_unreachable(error)


@pytest.mark.parametrize("error", NOT_UNAVAILABLE.values(), ids=NOT_UNAVAILABLE.keys())
def test_errors_that_are_the_requests_or_a_bug(error: BaseException) -> None:
    assert not database_unreachable(error)


def test_the_cause_chain_is_followed() -> None:
    outer = RuntimeError("while verifying the key")
    outer.__cause__ = asyncpg.exceptions.CannotConnectNowError("the system is shutting down")
    assert database_unreachable(outer)
    outer.__cause__ = ValueError("a bad value")
    assert not database_unreachable(outer)

"""Run a small write as a transaction of its own, on the raw driver.

The small-write path (:mod:`flightlog.ingest.small`) folds the write guard and
the tenant checks into the INSERT itself (and, on PostgreSQL, taking the
transaction id before an event id is drawn), so the whole unit of work is:

* SQLite: ``BEGIN IMMEDIATE``, the statement, ``COMMIT`` (in the lane's
  queue, on the event loop's thread under the async Store, see
  :mod:`flightlog.store.sqlite_lane`). One row is written as the checks,
  each a query of its own, a plain INSERT and a read-back of the row, between
  the same BEGIN and COMMIT (see :class:`~flightlog.ingest.small.OneStatement`).
  IMMEDIATE so that the write waits for the write lock in the busy handler
  rather than failing when another process commits between its reads and its
  write, and so that nothing the checks read changes before the INSERT;
* PostgreSQL: the statement alone, in autocommit: one round trip, the
  statement being its own transaction.

No ORM session, no SQLAlchemy statement compilation: these run on the
connection the engine's pool hands out. Whatever does not end in a committed
write (the statement wrote nothing, or the driver refused something) leaves
nothing behind and is answered with None, and the caller runs the declared
service, which raises the precise, typed error. Only a database out of reach
is raised here, as :class:`~flightlog.errors.DatabaseUnavailable`, since the
declared path would only meet it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from flightlog.db.failures import database_unreachable, unavailable_error
from flightlog.db.pool_ping import connection_lost
from flightlog.ingest.small import Check, OneStatement, ParamStyle

R = TypeVar("R")


def param_style(driver: str) -> ParamStyle:
    """How the engine's driver marks parameters."""
    if driver == "asyncpg":
        return "numeric_dollar"
    if driver == "psycopg":
        return "format"
    return "qmark"


def run_sqlite(engine: Engine, plan: OneStatement[R]) -> R | None:
    """The statement in its own ``BEGIN IMMEDIATE`` transaction on a pooled sqlite3 connection.

    That connection waits for the write lock up to the busy timeout; a lock still
    taken after it is a database that cannot serve now.
    """
    raw = _checkout(engine)
    if raw is None:
        return None
    try:
        return run_sqlite_now(raw, plan)
    except LockTaken as exc:
        raise unavailable_error(while_committing=False) from exc.__cause__
    finally:
        raw.close()


def _checkout(engine: Engine) -> Any:
    """A pooled connection; a database out of reach says that nothing was written.

    Nothing has been sent when the checkout fails. Another failure gives None, and
    the declared path meets it again and says what it is.
    """
    try:
        return engine.raw_connection()
    except Exception as exc:
        _refuse_if_unreachable(exc)
        return None


def _refuse_if_unreachable(exc: Exception) -> None:
    """A checkout that failed: nothing was sent, so a database out of reach wrote nothing."""
    if database_unreachable(exc):
        raise unavailable_error(while_committing=False) from exc


class LockTaken(Exception):
    """SQLite's write lock is held elsewhere (another process): queue instead of waiting here."""


def run_sqlite_now(dbapi: Any, plan: OneStatement[R]) -> R | None:
    """The plan (its checks, statement and read-back) in its own transaction on ``dbapi``.

    :class:`LockTaken` if it cannot begin. On the event loop's own thread (see
    :class:`~flightlog.store.sqlite_lane.WriterLane`) ``dbapi`` has a busy timeout
    of 0, so a write lock held by another process raises :class:`LockTaken` at
    once rather than stalling every coroutine.
    """
    cursor = dbapi.cursor()
    try:
        try:
            cursor.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise LockTaken from exc
        try:
            result = None
            if all(_holds(cursor, check) for check in plan.checks):
                cursor.execute(plan.sql, plan.params)
                if plan.read_back is not None:
                    cursor.execute(plan.read_back)
                result = plan.finish(cursor.fetchall())
            cursor.execute("COMMIT" if result is not None else "ROLLBACK")
        except BaseException:
            with contextlib.suppress(Exception):
                cursor.execute("ROLLBACK")
            raise
        return result
    except LockTaken:
        raise
    except Exception as exc:
        if database_unreachable(exc):
            raise unavailable_error(while_committing=True) from exc
        return None
    finally:
        cursor.close()


def _holds(cursor: Any, check: Check) -> bool:
    found = cursor.execute(check.sql, check.params).fetchone()
    return found is not None and found[0] == check.expected


def run_psycopg(engine: Engine, plan: OneStatement[R]) -> R | None:
    """The statement as its own transaction (autocommit) on a pooled psycopg connection."""
    raw = _checkout(engine)
    if raw is None:
        return None
    try:
        driver: Any = raw.driver_connection
        driver.autocommit = True
        try:
            with driver.cursor() as cursor:
                cursor.execute(plan.sql, plan.params)
                returned = [tuple(row) for row in cursor.fetchall()]
        finally:
            if not driver.closed:  # a lost connection's state cannot be changed
                driver.autocommit = False
    except Exception as exc:
        if connection_lost(raw.driver_connection, exc):
            # Not back into the pool as it is, and the pool tests the others before use
            # (flightlog.db.pool_ping): this went around SQLAlchemy's own handling.
            raw.invalidate(exc)
            # Sent and not answered: it may have committed, as any COMMIT cut off may have.
            raise unavailable_error(while_committing=True) from exc
        return None
    finally:
        raw.close()
    # Committed: whatever reading the result meets is not a reason to write again.
    return plan.finish(returned)


async def run_asyncpg(engine: AsyncEngine, plan: OneStatement[R]) -> R | None:
    """The statement in its own transaction on a pooled asyncpg connection.

    It runs as a task of its own, so that a cancelled caller cannot leave the
    connection inside an open transaction on its way back to the pool.
    """
    unit = _asyncpg_unit(engine, plan)
    task: asyncio.Future[R | None] = asyncio.ensure_future(unit)
    task.add_done_callback(lambda done: done.cancelled() or done.exception())
    return await asyncio.shield(task)


async def _asyncpg_unit(engine: AsyncEngine, plan: OneStatement[R]) -> R | None:
    try:
        connection = await engine.connect()
    except Exception as exc:
        _refuse_if_unreachable(exc)
        return None
    try:
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        # Outside a transaction asyncpg runs the statement in autocommit.
        try:
            returned = await driver.fetch(plan.sql, *plan.params)
        except Exception as exc:
            if connection_lost(driver, exc):
                # As in run_psycopg: went around SQLAlchemy's own handling. A
                # connection asyncpg knew was closed sent nothing (InterfaceError):
                # the declared path then writes on a new one.
                await connection.invalidate(exc)
            raise
    except Exception as exc:
        if database_unreachable(exc):
            raise unavailable_error(while_committing=True) from exc
        return None
    finally:
        await connection.close()
    # As in run_psycopg: committed, so not a reason to write again.
    return plan.finish([tuple(row) for row in returned])

"""PostgreSQL connections are tested before use only when they may have gone stale.

SQLAlchemy's ``pool_pre_ping`` tests every connection at every checkout. With
asyncpg that test is three round trips (BEGIN, an empty statement, ROLLBACK:
the transaction is there for pgbouncer's transaction mode), more than a
one-event write's own single one: ``flightlog serve`` taking one event per
request from 16 clients answered 1.15-1.3x fewer requests for it. A connection that
came back to the pool a moment ago was working a moment ago, so the pool tests
only:

* a connection that sat in the pool longer than
  ``Settings.pool_ping_after_idle_seconds``: what a server restart, a failover
  or a proxy's idle timeout leave behind;
* every connection that came back before the pool last saw one fail (its
  ``invalidate`` event: SQLAlchemy's own disconnect handling, a failed test
  here, or the raw-driver paths of :mod:`flightlog.store.one_statement`), so
  one dead connection makes the others prove themselves before use.

A connection the driver already knows is closed (asyncpg reads a server's
goodbye as it arrives) is replaced without a test, whatever its age. A
connection that fails its test is replaced at once, the caller never sees it
(SQLAlchemy retries a checkout whose listener raises ``DisconnectionError``).
What the window gives up: a connection killed less than that long after it
came back fails the one statement it is next used for, which is then answered
as the database being unavailable (503), as a connection cut in the middle of
a request always was; the next checkouts test theirs.
"""

from __future__ import annotations

import math
import time
import weakref
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event, exc
from sqlalchemy.engine import Dialect

from flightlog.db.failures import database_unreachable

#: Key in a pooled connection's ``info`` (cleared with the DBAPI connection): when it came back.
_RETURNED_AT = "flightlog_returned_at"


@dataclass
class PingCounts:
    """What a pool's checkouts did: connections tested, and found dead and replaced."""

    tested: int = 0
    replaced: int = 0
    #: ``time.monotonic()`` of the last connection the pool saw fail (-inf: none yet).
    suspect_before: float = -math.inf


# Keyed by the engine's dialect, which the engine's option engines (``execution_options``)
# and the new pool ``engine.dispose()`` makes share with it.
_counts: weakref.WeakKeyDictionary[Dialect, PingCounts] = weakref.WeakKeyDictionary()


def ping_counts(engine: Engine) -> PingCounts:
    """The counts of an engine whose pool :func:`ping_when_stale` watches.

    Raises ``LookupError`` for an engine it does not watch (SQLite, or made elsewhere).
    """
    counts = _counts.get(engine.dialect)
    if counts is None:
        raise LookupError("this engine's pool is not watched by ping_when_stale")
    return counts


def known_closed(driver_connection: Any) -> bool:
    """Whether the driver already knows its connection is gone (no round trip).

    asyncpg reads a server's goodbye as soon as it arrives (``is_closed()``);
    psycopg knows once a call met the closed socket (``closed``).
    """
    is_closed = getattr(driver_connection, "is_closed", None)
    if callable(is_closed):
        return bool(is_closed())
    return bool(getattr(driver_connection, "closed", False))


def connection_lost(driver_connection: Any, error: BaseException) -> bool:
    """Whether a raw-driver call's ``error`` means its connection is gone.

    For the paths that call the driver around SQLAlchemy's own error handling:
    such a connection must be invalidated by them, or it goes back into the pool.
    """
    return database_unreachable(error) or known_closed(driver_connection)


def ping_when_stale(engine: Engine, idle_seconds: float) -> None:
    """Test a connection at checkout when it idled past ``idle_seconds`` or is suspect.

    ``idle_seconds`` 0 tests every checkout, as ``pool_pre_ping`` does. A connection
    the driver already knows is closed is replaced whatever its age.
    """
    counts = _counts[engine.dialect] = PingCounts()
    dialect, pool = engine.dialect, engine.pool

    def returned(_dbapi: Any, record: Any) -> None:
        if record is not None:
            record.info[_RETURNED_AT] = time.monotonic()

    def failed(_dbapi: Any, _record: Any, _exception: BaseException | None) -> None:
        # Any connection leaving the pool as invalid, a cancelled statement's included:
        # at worst the others are tested once more than they needed.
        counts.suspect_before = time.monotonic()

    def lent(dbapi: Any, record: Any, _proxy: Any) -> None:
        came_back = record.info.get(_RETURNED_AT)
        if came_back is None:
            return  # opened for this checkout
        if known_closed(record.driver_connection):
            counts.replaced += 1
            raise exc.DisconnectionError("a pooled connection was closed by the server")
        if time.monotonic() - came_back < idle_seconds and came_back > counts.suspect_before:
            return
        counts.tested += 1
        try:
            dialect.do_ping(dbapi)
        except Exception as error:
            counts.replaced += 1
            # The pool closes this one (its invalidate event marks the others suspect)
            # and retries the checkout with a new connection.
            raise exc.DisconnectionError(f"a pooled connection was dead: {error}") from error

    event.listen(pool, "checkin", returned)
    event.listen(pool, "invalidate", failed)
    event.listen(pool, "soft_invalidate", failed)
    event.listen(pool, "checkout", lent)

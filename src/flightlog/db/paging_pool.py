"""A second, small pool of PostgreSQL connections for the event log's keyset pages.

Why (decision 0016, :mod:`flightlog.services.event_paging`): a page of the
partitioned ``events`` needs PostgreSQL's generic plan, else every page is
planned over every partition's indexes. Asked for per transaction (``SET
LOCAL plan_cache_mode``), that is one more round trip per page, and it was
most of what a partitioned page cost over a plain one (measured on this
2-core machine, 300,000 events over fifteen months: a partitioned page
0.7-1.6 ms slower at p50 than a plain one with the ``SET LOCAL``, and
0.1-0.25 ms slower than the plain one on connections opened planning
generically).

So a Store that owns its engine also opens this pool beside it: its
connections are opened with ``plan_cache_mode = force_generic_plan``, and
only the bound calls declared ``generic_plans`` (statements written to be
right under one plan for every value) run there. Everything else stays on
the main pool with PostgreSQL's own choice between custom and generic plans.

Only owners that dispose of the engine open one (:func:`open_store
<flightlog.store.core.open_store>`, the API app's own engine), and they
close it with the engine; a Store on an engine someone else owns pages with
the ``SET LOCAL`` as before. asyncpg only: psycopg forgets its prepared
statements at every rollback, so a plan is made per statement there anyway.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from flightlog.db.engine import async_session_factory, create_async_db_engine, pool_has_room
from flightlog.db.urls import DatabaseUrl
from flightlog.settings import Settings

log = logging.getLogger(__name__)

#: How long pages stay on the main pool after the paging pool failed to connect.
REST_SECONDS = 60.0


@dataclass
class _PagingPool:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    #: ``time.monotonic()`` before which pages go to the main pool (after a failure).
    resting_until: float = 0.0


#: The paging pool of each main engine that has one.
_pools: dict[AsyncEngine, _PagingPool] = {}


def open_paging_pool(
    engine: AsyncEngine, settings: Settings, url: DatabaseUrl | None = None
) -> None:
    """Give ``engine`` (asyncpg, on ``url``: default the settings' database) its paging
    pool; the caller closes it with the engine. No connection opens until a page needs one.
    """
    if engine.dialect.driver != "asyncpg" or engine in _pools:
        return
    paging = create_async_db_engine(settings, url=url, generic_plans=True)
    _pools[engine] = _PagingPool(paging, async_session_factory(paging))


def paging_engine(engine: AsyncEngine) -> AsyncEngine | None:
    """``engine``'s paging pool, if it has one (open or resting)."""
    pool = _pools.get(engine)
    return None if pool is None else pool.engine


def paging_sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession] | None:
    """Sessions on ``engine``'s paging pool when a page can have a connection there now,
    else None (no such pool, resting after a failure, or every connection lent out)."""
    pool = _pools.get(engine)
    if pool is None or time.monotonic() < pool.resting_until:
        return None
    if not pool_has_room(pool.engine.sync_engine):
        return None
    return pool.sessions


def paging_pool_failed(engine: AsyncEngine, error: BaseException) -> None:
    """The paging pool could not lend a connection: pages use the main pool for a while."""
    pool = _pools.get(engine)
    if pool is None:
        return
    pool.resting_until = time.monotonic() + REST_SECONDS
    log.warning(
        "event pages use the main connection pool for %.0f s: the paging pool could not "
        "connect (%s: %s)",
        REST_SECONDS,
        type(error).__name__,
        str(error).strip().splitlines()[0][:200] if str(error).strip() else "",
    )


async def close_paging_pool(engine: AsyncEngine) -> None:
    """Close ``engine``'s paging pool, if it has one (when the engine is disposed of)."""
    pool = _pools.pop(engine, None)
    if pool is not None:
        await pool.engine.dispose()

"""A second, small pool of PostgreSQL connections for the event log's keyset pages.

Why (decision 0016, :mod:`flightlog.services.event_paging`): a page of the
partitioned ``events`` needs PostgreSQL's generic plan, else every page is
planned over every partition's indexes. Asked for per transaction (``SET
LOCAL plan_cache_mode``), that is one more round trip per page, and it was
most of what a partitioned page cost over a plain one (measured on this
2-core machine: a page ~0.6-0.8 ms slower with the ``SET LOCAL`` than on
connections that plan generically from the start, ~0.1-0.2 ms from plain).

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

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from flightlog.db.engine import async_session_factory, create_async_db_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.settings import Settings

#: The paging pool of each main engine that has one, with its session factory.
_pools: dict[AsyncEngine, tuple[AsyncEngine, async_sessionmaker[AsyncSession]]] = {}


def open_paging_pool(
    engine: AsyncEngine, settings: Settings, url: DatabaseUrl | None = None
) -> None:
    """Give ``engine`` (asyncpg, on ``url``: default the settings' database) its paging
    pool; the caller closes it with the engine. No connection opens until a page needs one.
    """
    if engine.dialect.driver != "asyncpg" or engine in _pools:
        return
    paging = create_async_db_engine(settings, url=url, generic_plans=True)
    _pools[engine] = (paging, async_session_factory(paging))


def paging_sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession] | None:
    """Sessions on ``engine``'s paging pool, or None when it has none."""
    pool = _pools.get(engine)
    return None if pool is None else pool[1]


async def close_paging_pool(engine: AsyncEngine) -> None:
    """Close ``engine``'s paging pool, if it has one (when the engine is disposed of)."""
    pool = _pools.pop(engine, None)
    if pool is not None:
        await pool[0].dispose()

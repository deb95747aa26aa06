"""Whether ``flightlog serve --workers N``'s connection pools fit in what PostgreSQL allows.

Each worker process has its own pool: up to ``pool_size + max_overflow``
connections (20 + 10 by default), opened as requests need them, and beside it
a paging pool a quarter that size for the event log's pages
(:mod:`flightlog.db.paging_pool`). N workers may
therefore open N times that, and the default worker count is the number of
cores. PostgreSQL refuses connections past ``max_connections`` less
``superuser_reserved_connections`` (100 - 3 by default), and the requests that
needed them fail with a 503 only once the load arrives. So the server says so
when it starts, while the settings can still be changed. It is a warning, not a
refusal: a pool opens connections only under load, and an operator may know
the load stays below it.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from flightlog.db.engine import create_sync_engine, paging_pool_size
from flightlog.settings import Settings


def allowed_connections(settings: Settings) -> int | None:
    """How many connections PostgreSQL lets ordinary roles open; None when it cannot say."""
    engine = create_sync_engine(settings, connect_timeout=5)
    try:
        with engine.connect() as connection:
            most, reserved = connection.execute(
                text(
                    "SELECT current_setting('max_connections')::int, "
                    "current_setting('superuser_reserved_connections')::int"
                )
            ).one()
    except SQLAlchemyError:
        return None  # the server's own work will say what is wrong with the database
    finally:
        engine.dispose()
    return int(most) - int(reserved)


def pool_budget_warning(settings: Settings, workers: int) -> str | None:
    """A banner line when ``workers`` full pools exceed what PostgreSQL allows, else None."""
    if settings.database.dialect != "postgresql":
        return None
    # With read replicas, pages are read there: no paging pool is opened.
    paging = 0 if settings.replica_databases else sum(paging_pool_size(settings))
    per_worker = settings.pool_size + settings.max_overflow + paging
    allowed = allowed_connections(settings)
    if allowed is None or workers * per_worker <= allowed:
        return None
    return (
        f"  warning    {workers} workers may open {workers * per_worker} database connections "
        f"(each up to FLIGHTLOG_POOL_SIZE {settings.pool_size} + FLIGHTLOG_MAX_OVERFLOW "
        f"{settings.max_overflow}, and {paging} for event pages) but PostgreSQL allows "
        f"{allowed}: lower those or --workers, or raise max_connections"
    )

"""What every request needs: the engine, the settings, and who the caller is."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from flightlog.api.keys import KeyCache
from flightlog.settings import Settings
from flightlog.store.core import Store, session_factory


@dataclass
class ApiContext:
    """Shared by all requests of one app; a Store per request is cheap to build from it.

    ``connection`` is for embedders and tests: every request then runs in
    savepoints of that one connection's transaction, which the owner rolls back.
    """

    engine: AsyncEngine
    settings: Settings
    connection: AsyncConnection | None = None
    sessions: async_sessionmaker[AsyncSession] = field(init=False)
    keys: KeyCache = field(init=False)

    def __post_init__(self) -> None:
        self.sessions = session_factory(self.engine, self.connection)
        self.keys = KeyCache(self.sessions, ttl_seconds=self.settings.api_key_cache_seconds)

    def store_for(self, customer_id: uuid.UUID) -> Store:
        return Store(self.engine, self.settings, customer_id, connection=self.connection)

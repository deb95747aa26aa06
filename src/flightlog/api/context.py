"""What every request needs: the engine, the settings, and who the caller is."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from flightlog.api.keys import KeyCache
from flightlog.db.replicas import ReplicaSet, async_replicas
from flightlog.db.urls import DatabaseUrl
from flightlog.settings import Settings
from flightlog.store.core import Store, session_factory
from flightlog.store.memory_turns import Sessions, sessions_taking_turns, turns_for

#: Stores kept per app: one per customer seen recently (cleared past this many).
_MAX_STORES = 1024


@dataclass
class ApiContext:
    """Shared by all requests of one app: the engine, the key cache, a Store per customer.

    ``connection`` is for embedders and tests: every request then runs in
    savepoints of that one connection's transaction, which the owner rolls back.
    The read replicas of the settings (``FLIGHTLOG_DATABASE_REPLICA_URLS``) get
    their engines here, shared by every customer's Store; the app disposes of them.
    """

    engine: AsyncEngine
    settings: Settings
    connection: AsyncConnection | None = None
    sessions: Sessions = field(init=False)
    keys: KeyCache = field(init=False)
    replicas: ReplicaSet[AsyncEngine] | None = field(init=False, default=None)
    _stores: dict[uuid.UUID, Store] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        if self.connection is None:
            self.replicas = async_replicas(self.settings)
        sessions = session_factory(self.engine, self.connection)
        self.sessions = sessions
        if self.connection is None and DatabaseUrl.parse(self.engine.url).is_memory:
            # An app on an in-memory Store's engine: its own sessions wait their turn too.
            self.sessions = sessions_taking_turns(sessions, turns_for(self.engine))
        self.keys = KeyCache(self.sessions, ttl_seconds=self.settings.api_key_cache_seconds)

    def store_for(self, customer_id: uuid.UUID) -> Store:
        """The customer's Store, kept between requests.

        A Store holds nothing of a request (its calls each open their own
        transaction), but building one binds its facades' methods on first use,
        which cost more than a small write itself; so each is built once.
        """
        store = self._stores.get(customer_id)
        if store is None:
            if len(self._stores) >= _MAX_STORES:
                self._stores.clear()
            store = Store(
                self.engine,
                self.settings,
                customer_id,
                connection=self.connection,
                replicas=self.replicas,
            )
            self._stores[customer_id] = store
        return store

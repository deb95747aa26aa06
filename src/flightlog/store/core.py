"""The Store object, its transactions, and ``open_store``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from flightlog.db.engine import SQLITE_BEGIN_MODE, async_session_factory, create_async_db_engine
from flightlog.db.failures import driver_errors
from flightlog.db.paging_pool import (
    close_paging_pool,
    open_paging_pool,
    paging_pool_failed,
    paging_sessions,
)
from flightlog.db.presence import require_existing_database
from flightlog.db.replicas import ReplicaSet, async_replicas
from flightlog.errors import ValidationError
from flightlog.migrations.runner import Migrator
from flightlog.ops import database_health
from flightlog.schemas.health import DatabaseHealth, DatabaseStatistics, ReplicaHealth
from flightlog.services.customers import (
    assert_can_write,
    ensure_default_customer,
    find_default_customer,
)
from flightlog.settings import Settings, get_settings
from flightlog.store.binding import UnitKind, in_unit
from flightlog.store.memory_turns import MemoryTurns, turns_for
from flightlog.store.replica_reads import AsyncReplicaReads, current_floor, primary_position
from flightlog.store.sqlite_lane import WriterLane, close_lane, lane_for
from flightlog.store.state import StoreState
from flightlog.store.sync import SyncStore
from flightlog.store.translation import Progress, database_errors_as_domain_errors

P = ParamSpec("P")
R = TypeVar("R")


def session_factory(
    engine: AsyncEngine, connection: AsyncConnection | None = None
) -> async_sessionmaker[AsyncSession]:
    """Sessions on the engine's pool, or savepoints on one connection an embedder controls."""
    if connection is None:
        return async_session_factory(engine)
    return async_sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


class Store(StoreState):
    """A connection pool plus the tenant it acts for; every call is a coroutine.

    The synchronous twin, with the same facades, is :class:`flightlog.store.SyncStore`.
    """

    is_async = True

    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        customer_id: uuid.UUID,
        *,
        connection: AsyncConnection | None = None,
        replicas: ReplicaSet[AsyncEngine] | None = None,
    ) -> None:
        """Normally built by :func:`open_store`.

        With ``connection`` (already inside a transaction), every unit of work
        becomes a savepoint on it: the embedding application, or a test, keeps
        control of the outer transaction and can roll all of it back. Read
        ``replicas`` (their engines are the caller's to dispose of) serve the
        stale-tolerant reads; a Store on a ``connection`` uses none.
        """
        super().__init__(settings, customer_id, engine.url)
        self.engine = engine
        self.connection = connection
        self._sessions = session_factory(engine, connection)
        #: Where stale-tolerant reads go (None: the primary, as every read).
        self.replica_reads: AsyncReplicaReads | None = None
        if replicas is not None and connection is None:
            self.replica_reads = AsyncReplicaReads(replicas, engine)
            self.has_replicas = True
        #: SQLite's in-process write queue and writer thread (None on PostgreSQL, and for a
        #: Store on an embedder's connection, whose units are savepoints on that connection).
        self.lane: WriterLane | None = None
        #: The synchronous Store on the lane's sqlite3 engine, for the same customer, that
        #: runs this Store's bound calls on the lane's threads (with the lane only).
        self.sync_twin: SyncStore | None = None
        #: On an in-memory database, the turns of its one connection (flightlog.db.memory).
        self.memory_turns: MemoryTurns | None = None
        if self.in_memory:
            # No lane: its own engine would be another database. Every unit takes its turn.
            self.memory_turns = turns_for(engine)
        elif connection is None and engine.dialect.name == "sqlite":
            self.lane = lane_for(engine, settings)
            self.sync_twin = SyncStore(self.lane.engine, settings, customer_id)

    def unit_of_work(self, kind: UnitKind) -> AbstractAsyncContextManager[AsyncSession]:
        """The session a bound call of ``kind`` runs in (see :mod:`flightlog.store.binding`)."""
        if kind == "write":
            return self.transaction()
        if kind == "read":
            return self.reader()
        if kind == "stale":
            return self.reading()
        return self.operator_transaction()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A write transaction for the Store's customer: committed on success, else rolled back.

        It refuses to start for a customer that is not ACTIVE, so no facade
        call can write on behalf of a suspended or churned tenant.
        """
        progress = Progress()
        try:
            with database_errors_as_domain_errors(progress):
                async with self._write_turn(), self._sessions() as session, session.begin():
                    # On PostgreSQL this also takes the transaction id, before any event id
                    # is drawn, so that live readers of the event log can tell when ids are
                    # final.
                    await session.run_sync(assert_can_write, self.customer_id)
                    yield session
                    # The caller's work is done; what fails from here on fails in COMMIT.
                    progress.committing = True
        finally:
            self.note_write()

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncSession]:
        """A read-only session; on SQLite it does not take the write lock."""
        with database_errors_as_domain_errors():
            async with self._read_turn(), self._sessions() as session:
                # Leaving the block closes the session: the transaction is rolled back and
                # the loaded rows stay readable (closing, unlike rollback, does not expire them).
                await session.connection(execution_options={SQLITE_BEGIN_MODE: "DEFERRED"})
                yield session

    @asynccontextmanager
    async def operator_transaction(self) -> AsyncIterator[AsyncSession]:
        """A write transaction that skips the tenant write guard, for operator acts.

        :meth:`transaction` refuses to start for a SUSPENDED customer, so it
        cannot be used to reactivate one. :meth:`reader` is no substitute even
        with an explicit commit: on SQLite it opens a DEFERRED transaction, which
        takes the write lock only at the first write and can then fail with
        "database is locked" instead of waiting. This is BEGIN IMMEDIATE on
        SQLite (the engine's default) and, in an embedded or test Store, a
        savepoint on the caller's connection, like every other write.
        """
        progress = Progress()
        try:
            with database_errors_as_domain_errors(progress):
                async with self._write_turn(), self._sessions() as session, session.begin():
                    yield session
                    progress.committing = True
        finally:
            self.note_write()

    @asynccontextmanager
    async def reading(self, *, at_least: int | None = None) -> AsyncIterator[AsyncSession]:
        """A read-only session for reads that may trail the newest commits a little.

        On a read replica that has replayed this Store's own writes (and
        ``at_least``, a WAL position from :mod:`flightlog.db.positions`) when
        replicas are configured and one is fit; else on the primary, as
        :meth:`reader`. ``session.info["flightlog.read_from"]`` says which.
        """
        if self.replica_reads is None:
            async with self.reader() as session:
                yield session
            return
        with database_errors_as_domain_errors():
            floor = await self._floor(at_least)
            async with self.replica_reads.session(floor, self.reader) as session:
                yield session

    async def read_paged(
        self, work: Callable[Concatenate[Session, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """``work`` on the engine's paging pool (:mod:`flightlog.db.paging_pool`), else as
        :meth:`read_routed` would place it: with replicas (stale reads go there) or
        without such a pool (an engine this Store does not own, SQLite).

        For bound calls whose statements are right under a generic plan for every
        value: the keyset pages of the event log. A paging pool that cannot lend a
        connection now sends the call to the main pool (see the module).
        """
        sessions = (
            paging_sessions(self.engine)
            if self.replica_reads is None and self.connection is None
            else None
        )
        if sessions is not None:
            async with sessions() as session:
                try:
                    await session.connection()
                except Exception as exc:
                    # No connection there (a pooler refusing its startup parameter, or
                    # the database down): the main pool serves, or says it is down.
                    paging_pool_failed(self.engine, exc)
                else:
                    with database_errors_as_domain_errors():
                        return await session.run_sync(work, *args, **kwargs)
        return await self.read_routed(work, *args, **kwargs)

    async def read_routed(
        self, work: Callable[Concatenate[Session, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """``work`` as :meth:`reading` would place it, and on the primary if a replica fails
        while it runs (a read is safe to run twice): the stale-tolerant bound calls' path."""
        if self.replica_reads is None:
            async with self.reader() as session:
                return await session.run_sync(work, *args, **kwargs)
        with database_errors_as_domain_errors():
            floor = await self._floor(None)
            return await self.replica_reads.run(floor, self.reader, work, *args, **kwargs)

    async def _floor(self, at_least: int | None) -> int:
        assert self.replica_reads is not None
        own = await self.replica_reads.floor_position(current_floor(self.read_floor))
        return max(own, at_least or 0)

    async def health(
        self, *, timeout_seconds: float = database_health.DEFAULT_HEALTH_TIMEOUT_SECONDS
    ) -> DatabaseHealth:
        """Whether the database answers, its latency, schema revision and this pool's state.

        Seed 004's ``health_check()``. Never raises for a database that is
        down, refuses connections or takes longer than ``timeout_seconds``:
        the report says ``reachable=False`` and why, in one sentence.
        """
        if not timeout_seconds > 0:
            raise ValidationError("timeout_seconds must be a number greater than 0")
        failures: tuple[type[BaseException], ...] = (TimeoutError, *driver_errors())
        try:
            async with asyncio.timeout(timeout_seconds), self._sessions() as session:
                await session.connection(execution_options={SQLITE_BEGIN_MODE: "DEFERRED"})
                found = await session.run_sync(database_health.probe)
        except failures as exc:
            return database_health.unreachable(exc, url=self.engine.url, pool=self.engine.pool)
        report = database_health.healthy(found, url=self.engine.url, pool=self.engine.pool)
        if self.replica_reads is None:
            return report
        replicas = await self._replica_health(timeout_seconds, failures)
        return report.model_copy(update={"replicas": replicas})

    async def _replica_health(
        self, timeout_seconds: float, failures: tuple[type[BaseException], ...]
    ) -> list[ReplicaHealth]:
        """Each replica checked now, with how far behind the primary's position it is."""
        assert self.replica_reads is not None
        replicas = self.replica_reads.replicas
        try:
            async with asyncio.timeout(timeout_seconds):
                position: int | None = await primary_position(self.engine)
                await self.replica_reads.know_primary()
        except failures:
            position = None
        reports = []
        for replica in replicas.replicas:
            found: database_health.ReplicaProbe | BaseException
            try:
                async with asyncio.timeout(timeout_seconds), AsyncSession(replica.engine) as s:
                    found = await s.run_sync(database_health.replica_probe)
            except failures as exc:
                found = exc
            reports.append(database_health.replica_report(replicas, replica, found, position))
        return reports

    async def stats(self) -> DatabaseStatistics:
        """Rows per table, run outcomes, database size, the pool's state and index usage.

        Seed 004's ``get_comprehensive_stats()``: the whole database, every
        customer's rows (an operator's numbers, not the Store customer's). With
        read replicas, counted on one (``database`` says which; its index usage
        is then that server's own).
        """
        return await self.read_routed(in_unit, database_health.statistics_here)

    def _write_turn(self) -> AbstractAsyncContextManager[None]:
        """On SQLite, this process's turn to write (see :mod:`flightlog.store.sqlite_lane`)."""
        if self.memory_turns is not None:
            return self.memory_turns.turn()
        return self.lane.turn() if self.lane is not None else nullcontext()

    def _read_turn(self) -> AbstractAsyncContextManager[None]:
        """In memory, a read's turn on the one connection too; elsewhere reads never wait."""
        return self.memory_turns.turn() if self.memory_turns is not None else nullcontext()

    async def close(self) -> None:
        close_lane(self.engine)
        await close_paging_pool(self.engine)
        await self.engine.dispose()
        if self.replica_reads is not None:
            await dispose_replicas(self.replica_reads.replicas)


async def dispose_replicas(replicas: ReplicaSet[AsyncEngine] | None) -> None:
    """Close every replica's pool."""
    for replica in replicas.replicas if replicas is not None else ():
        await replica.engine.dispose()


async def _default_customer(engine: AsyncEngine) -> uuid.UUID:
    """Read it first: only the very first open of a database writes (SQLite's write lock)."""
    sessions = async_session_factory(engine)
    async with sessions() as session:
        await session.connection(execution_options={SQLITE_BEGIN_MODE: "DEFERRED"})
        found = await session.run_sync(find_default_customer)
    if found is not None:
        return found
    async with sessions() as session, session.begin():
        return await session.run_sync(ensure_default_customer)


@asynccontextmanager
async def open_store(
    url: str | None = None,
    *,
    settings: Settings | None = None,
    customer_id: uuid.UUID | None = None,
    upgrade: bool = True,
    replica_urls: Sequence[str] | None = None,
) -> AsyncIterator[Store]:
    """Open Flightlog on ``url`` (default: settings), upgrading the schema unless told not to.

    Example::

        async with open_store("sqlite:///./flightlog.db") as store:
            task = await store.tasks.create(title="Build a todo app")

    ``replica_urls`` (default: ``FLIGHTLOG_DATABASE_REPLICA_URLS``) are hot
    standbys of a PostgreSQL database: stale-tolerant reads go there, and still
    see this Store's own writes (docs/decisions/0017-read-replicas.md).

    ``"sqlite:///:memory:"`` opens a new, private in-memory database for tests
    and experiments: created at the schema's head whatever ``upgrade`` says,
    reachable only through this Store (one event loop, one connection, its
    units of work one at a time), and gone when the block ends.
    """
    settings = store_settings(settings, url, replica_urls)
    database = settings.database
    if database.is_memory:
        pass  # a new database, created at head as the engine connects (flightlog.db.memory)
    elif upgrade:
        await asyncio.to_thread(Migrator(settings, database).ensure_head)
    else:
        require_existing_database(database)  # never create a SQLite file it was not asked to
        await asyncio.to_thread(Migrator(settings, database).require_head)
    engine = create_async_db_engine(settings, url=database)
    replicas = None
    try:
        replicas = async_replicas(settings)
        if replicas is None:
            open_paging_pool(engine, settings, database)
        if customer_id is None:
            customer_id = await _default_customer(engine)
        store = Store(engine, settings, customer_id, replicas=replicas)
        yield store
    finally:
        close_lane(engine)
        await close_paging_pool(engine)
        await engine.dispose()
        await dispose_replicas(replicas)


def store_settings(
    settings: Settings | None, url: str | None, replica_urls: Sequence[str] | None
) -> Settings:
    """The settings a Store opens with: the environment's, or the caller's, then the arguments.

    Read replicas are checked here (PostgreSQL, parseable) before anything connects.
    """
    settings = settings or get_settings(database_url=url)
    if url is not None:
        settings = settings.model_copy(update={"database_url": url})
    if replica_urls is not None:
        urls = [replica_urls] if isinstance(replica_urls, str) else replica_urls
        return settings.with_replica_urls(urls)
    settings.replica_databases  # noqa: B018 - refuses replicas of SQLite, or unusable URLs
    return settings

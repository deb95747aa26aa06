"""The synchronous Store: the same facades as :class:`~flightlog.store.Store`, no ``async``.

For scripts, notebooks, web frameworks without an event loop and worker
threads (the reference systems' ``SessionLocal`` / ``initialize_sync()``
style). Its facades are the async Store's, bound from the same service
declarations (:mod:`flightlog.store.binding`); only the engine differs: a
synchronous one on psycopg 3 or sqlite3, so a call costs no event loop.
Every call is one transaction, as on the async Store, with the same errors
and the same tenancy. The Store is safe to share between threads: each call
takes its own pooled connection.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine, event, inspect
from sqlalchemy.orm import (
    InstanceState,
    ORMExecuteState,
    Session,
    lazyload,
    object_session,
    sessionmaker,
)
from sqlalchemy.orm.strategies import LoadLazyAttribute

from flightlog.db.base import Base
from flightlog.db.engine import SQLITE_BEGIN_MODE, create_sync_engine, sync_session_factory
from flightlog.db.failures import driver_errors
from flightlog.db.presence import require_existing_database
from flightlog.db.replicas import ReplicaSet, sync_replicas
from flightlog.migrations.runner import Migrator
from flightlog.ops import database_health
from flightlog.schemas.health import DatabaseHealth, DatabaseStatistics, ReplicaHealth
from flightlog.services.customers import (
    assert_can_write,
    ensure_default_customer,
    find_default_customer,
)
from flightlog.settings import Settings
from flightlog.store.binding import UnitKind, in_unit
from flightlog.store.memory_turns import turns_for
from flightlog.store.replica_reads import SyncReplicaReads, current_floor, primary_position_sync
from flightlog.store.state import StoreState
from flightlog.store.translation import Progress, database_errors_as_domain_errors

P = ParamSpec("P")
R = TypeVar("R")


def _sync_sessions(engine: Engine, connection: Connection | None) -> sessionmaker[Session]:
    if connection is None:
        return sync_session_factory(engine)
    return sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


class SyncStore(StoreState):
    """A synchronous connection pool plus the tenant it acts for.

    Example::

        with flightlog.open_store_sync("sqlite:///./flightlog.db") as store:
            task = store.tasks.create(title="Build a todo app")
            run = store.runs.start(task.id)
    """

    is_async = False

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        customer_id: uuid.UUID,
        *,
        connection: Connection | None = None,
        replicas: ReplicaSet[Engine] | None = None,
    ) -> None:
        """Normally built by :func:`open_store_sync`; ``connection`` and ``replicas`` as for
        the async Store (a Store it opens itself disposes of its replicas' pools on close)."""
        super().__init__(settings, customer_id, engine.url)
        self.engine = engine
        self.connection = connection
        self._sessions = _sync_sessions(engine, connection)
        #: Where stale-tolerant reads go (None: the primary, as every read).
        self.replica_reads: SyncReplicaReads | None = None
        if replicas is not None and connection is None:
            self.replica_reads = SyncReplicaReads(replicas, engine)
            self.has_replicas = True
        #: On an in-memory database, the turns of its one connection (flightlog.db.memory).
        self.memory_turns = turns_for(engine) if self.in_memory else None

    def _turn(self) -> AbstractContextManager[None]:
        """In memory, this unit's turn on the one connection; elsewhere no waiting here."""
        return self.memory_turns.sync_turn() if self.memory_turns is not None else nullcontext()

    def unit_of_work(self, kind: UnitKind) -> AbstractContextManager[Session]:
        """The session a bound call of ``kind`` runs in (see :mod:`flightlog.store.binding`)."""
        if kind == "write":
            return self.transaction()
        if kind == "read":
            return self.reader()
        if kind == "stale":
            return self.reading()
        return self.operator_transaction()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write transaction for the Store's customer: committed on success, else rolled back.

        Compose several services atomically in it, as with the async Store::

            with store.transaction() as session:
                task = services.tasks.create_task(session, store.customer_id, title="x")
        """
        progress = Progress()
        try:
            with (
                database_errors_as_domain_errors(progress),
                self._turn(),
                self._sessions() as session,
                session.begin(),
            ):
                # See Store.transaction: on PostgreSQL this takes the transaction id too.
                assert_can_write(session, self.customer_id)
                yield session
                progress.committing = True
        finally:
            self.note_write()

    @contextmanager
    def reader(self) -> Iterator[Session]:
        """A read-only session; on SQLite it does not take the write lock."""
        with database_errors_as_domain_errors(), self._turn(), self._sessions() as session:
            session.connection(execution_options={SQLITE_BEGIN_MODE: "DEFERRED"})
            yield session

    @contextmanager
    def operator_transaction(self) -> Iterator[Session]:
        """A write transaction that skips the tenant write guard (see the async Store's)."""
        progress = Progress()
        try:
            with (
                database_errors_as_domain_errors(progress),
                self._turn(),
                self._sessions() as session,
                session.begin(),
            ):
                yield session
                progress.committing = True
        finally:
            self.note_write()

    @contextmanager
    def reading(self, *, at_least: int | None = None) -> Iterator[Session]:
        """A read-only session on a replica that has this Store's writes, else the primary's
        (see the async Store's :meth:`~flightlog.store.Store.reading`)."""
        if self.replica_reads is None:
            with self.reader() as session:
                yield session
            return
        with database_errors_as_domain_errors():
            floor = self._floor(at_least)
            with self.replica_reads.session(floor, self.reader) as session:
                yield session

    def read_routed(
        self, work: Callable[Concatenate[Session, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """``work`` on a fit replica, or on the primary (see the async Store's)."""
        if self.replica_reads is None:
            with self.reader() as session:
                return work(session, *args, **kwargs)
        with database_errors_as_domain_errors():
            floor = self._floor(None)
            return self.replica_reads.run(floor, self.reader, work, *args, **kwargs)

    def _floor(self, at_least: int | None) -> int:
        assert self.replica_reads is not None
        own = self.replica_reads.floor_position(current_floor(self.read_floor))
        return max(own, at_least or 0)

    def health(self) -> DatabaseHealth:
        """Whether the database answers, its latency, schema revision and this pool's state.

        As the async Store's, but without its time limit: a connection waits
        at most ``FLIGHTLOG_POOL_TIMEOUT_SECONDS`` for the pool and then what
        the driver allows for connecting. Never raises for an unreachable database.
        """
        try:
            with self._sessions() as session:
                session.connection(execution_options={SQLITE_BEGIN_MODE: "DEFERRED"})
                found = database_health.probe(session)
        except driver_errors() as exc:
            return database_health.unreachable(exc, url=self.engine.url, pool=self.engine.pool)
        report = database_health.healthy(found, url=self.engine.url, pool=self.engine.pool)
        if self.replica_reads is None:
            return report
        return report.model_copy(update={"replicas": self._replica_health()})

    def _replica_health(self) -> list[ReplicaHealth]:
        assert self.replica_reads is not None
        replicas = self.replica_reads.replicas
        try:
            position: int | None = primary_position_sync(self.engine)
            self.replica_reads.know_primary()
        except driver_errors():
            position = None
        reports = []
        for replica in replicas.replicas:
            found: database_health.ReplicaProbe | BaseException
            try:
                with Session(replica.engine) as session:
                    found = database_health.replica_probe(session)
            except driver_errors() as exc:
                found = exc
            reports.append(database_health.replica_report(replicas, replica, found, position))
        return reports

    def stats(self) -> DatabaseStatistics:
        """Rows per table, run outcomes, size, the pool and index usage (see the async Store's)."""
        return self.read_routed(in_unit, database_health.statistics_here)

    def session(self) -> Session:
        """A plain SQLAlchemy ``Session`` for querying the models yourself.

        For code in the style of ``db = SessionLocal(); db.query(Task)…``: it
        is yours to commit, roll back and close (``with store.session() as db:``
        closes it). Unlike the Store's own sessions, relationships load on
        access here (``task.events``, ``run.agent_runs``), because a synchronous
        session can load lazily without surprising anyone. It sees every
        customer's rows: filter by ``store.customer_id`` where that matters.
        On an in-memory database it shares the Store's one connection: end its
        transaction (commit, roll back or close it) before the next Store call.
        """
        if self.connection is None:
            # On SQLite a transaction of this session begins DEFERRED: reading takes no
            # write lock, so an open session does not hold up every writer (a write in
            # it takes the lock then, and may meet "database is locked" under contention).
            deferred = self.engine.execution_options(**{SQLITE_BEGIN_MODE: "DEFERRED"})
            session = Session(bind=deferred, expire_on_commit=False)
        else:
            session = self._sessions()
        session.info[_LAZY_SESSION] = True
        event.listen(session, "do_orm_execute", _load_relationships_lazily)
        for joined in ("pending_to_persistent", "detached_to_persistent"):
            event.listen(session, joined, _lazy_loaders_for)
        return session

    def close(self) -> None:
        """Close the pool's connections (only those the Store opened itself), and the replicas'."""
        if self.connection is None:
            self.engine.dispose()
        if self.replica_reads is not None:
            for replica in self.replica_reads.replicas.replicas:
                replica.engine.dispose()

    def __enter__(self) -> SyncStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _load_relationships_lazily(state: ORMExecuteState) -> None:
    """Every ORM SELECT of a user session loads relationships on access.

    The models declare ``lazy="raise_on_sql"`` so that async code, where a
    lazy load cannot run, says so instead of failing deep in a driver; a
    synchronous session has no such problem, so the option is lifted here,
    for the statement's entities and those its lazy loads bring in. Objects
    this session did not load with a SELECT (created and added, added from
    another session, refreshed or expired) get the same loaders from
    :func:`_lazy_loaders_for`.
    """
    if state.is_select:
        # Column loads too: db.refresh(obj) and expired attributes reload through them.
        state.statement = state.statement.options(lazyload("*"))


#: Marks the sessions of :meth:`SyncStore.session` (in ``Session.info``).
_LAZY_SESSION = "flightlog.load_relationships_on_access"
#: The strategy ``lazy="select"`` names: load a relationship with a SELECT on access.
_SELECT_ON_ACCESS = (("lazy", "select"),)


def _lazy_loaders_for(session: Session, instance: object) -> None:
    """Relationships of an object this session did not SELECT load on access too.

    ``db.add(task); db.commit(); task.agent_runs`` (seed 001's style) never ran
    a SELECT, so :func:`_load_relationships_lazily` could not lift the models'
    ``raise_on_sql``. Such an object gets the same per-instance lazy loaders a
    ``lazyload()`` option gives a loaded one, once it is persistent (flushed, or
    added from another session); attributes already holding values are left
    alone. Only objects of this session are touched: the models, and so every
    async session and the Store's own sessions, keep ``raise_on_sql``.
    """
    state: InstanceState[Any] = inspect(instance, raiseerr=True)
    for relationship in state.mapper.relationships:
        if relationship.lazy != "raise_on_sql" or relationship.key in state.dict:
            continue
        strategy = relationship._get_strategy(_SELECT_ON_ACCESS)
        loader = LoadLazyAttribute(relationship.key, strategy, None, None)  # type: ignore[no-untyped-call]
        if "callables" not in state.__dict__:
            state.callables = {}
        state.callables[relationship.key] = loader


@event.listens_for(Base, "refresh", propagate=True)
def _refreshed(target: object, context: object, attrs: object) -> None:
    """``db.refresh(obj)`` drops per-instance loaders; a session of :meth:`SyncStore.session`
    puts them back (any other session's objects are not touched).

    A rolled-back savepoint expires the states it touched, and SQLAlchemy passes
    ``None`` for one whose object was already garbage-collected: nothing to do then.
    """
    if target is None:
        return
    session = object_session(target)
    if session is not None and session.info.get(_LAZY_SESSION):
        _lazy_loaders_for(session, target)


@event.listens_for(Base, "expire", propagate=True)
def _expired(target: object, attrs: object) -> None:
    """As :func:`_refreshed`, for ``db.expire(obj)`` and an expiring commit."""
    _refreshed(target, None, attrs)


def _default_customer(engine: Engine) -> uuid.UUID:
    """Read it first: only the very first open of a database writes (SQLite's write lock)."""
    sessions = sync_session_factory(engine)
    with sessions() as session:
        session.connection(execution_options={SQLITE_BEGIN_MODE: "DEFERRED"})
        found = find_default_customer(session)
    if found is not None:
        return found
    with sessions() as session, session.begin():
        return ensure_default_customer(session)


def open_store_sync(
    url: str | None = None,
    *,
    settings: Settings | None = None,
    customer_id: uuid.UUID | None = None,
    upgrade: bool = True,
    replica_urls: Sequence[str] | None = None,
) -> SyncStore:
    """Open Flightlog on ``url`` synchronously (default: settings), upgrading unless told not to.

    The synchronous twin of :func:`flightlog.open_store`; close the Store when
    done, or use it as a context manager::

        with open_store_sync("sqlite:///./flightlog.db") as store:
            task = store.tasks.create(title="Build a todo app")

    ``"sqlite:///:memory:"`` opens a new, private in-memory database (see
    :func:`flightlog.open_store`): its calls take turns on its one connection,
    from any thread, and it is gone when the Store is closed. ``replica_urls``
    as for :func:`flightlog.open_store`.
    """
    from flightlog.store.core import store_settings

    settings = store_settings(settings, url, replica_urls)
    database = settings.database
    if database.is_memory:
        pass  # a new database, created at head as the engine connects (flightlog.db.memory)
    elif upgrade:
        Migrator(settings, database).ensure_head()
    else:
        require_existing_database(database)  # never create a SQLite file it was not asked to
        Migrator(settings, database).require_head()
    engine = create_sync_engine(settings, url=database)
    replicas = None
    try:
        replicas = sync_replicas(settings)
        if customer_id is None:
            customer_id = _default_customer(engine)
        return SyncStore(engine, settings, customer_id, replicas=replicas)
    except BaseException:
        engine.dispose()
        for replica in replicas.replicas if replicas is not None else ():
            replica.engine.dispose()
        raise

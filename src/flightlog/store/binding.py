"""Service functions bound into the Stores: declared once, typed through, on two faces.

A service function is the one declaration of an operation::

    def get_task(session: Session, customer_id: uuid.UUID, /, task_id: uuid.UUID) -> Task

A facade binds it with one line, ``get = reads(tasks.get_task)``, and the
same binding is a coroutine method on the async :class:`~flightlog.store.Store`
(``await store.tasks.get(task_id)``) and a plain method on the
:class:`~flightlog.store.SyncStore` (``store.tasks.get(task_id)``), each
running the service in one transaction for the Store's customer. Services
are synchronous functions on a SQLAlchemy ``Session``: the async Store runs
them with ``AsyncSession.run_sync`` (the greenlet bridge SQLAlchemy's own
async layer is made of), the sync Store on a session of a sync engine.

The session and the customer are the two positional-only parameters every
bound service starts with, so that ``Concatenate`` can strip them: mypy (and
an editor) sees the remaining parameters and the return type exactly as the
service declares them. A keyword-only ``customer_id`` could not be stripped
this way (PEP 612). The descriptor's ``__get__`` is overloaded on the
facade's Store type, which is how one declaration types both faces.

``writes`` runs the service in a write transaction (``BEGIN IMMEDIATE`` on
SQLite), ``reads`` in a read-only one (``DEFERRED``: no write lock).
``after_commit`` runs once the transaction has committed, for work that
must not happen if it rolls back (deleting blob files). ``operator=True``
runs a write in a transaction that skips the tenant write guard (lifting a
suspension must work on a suspended customer); ``tenant=False`` binds a
service that takes no customer (signing one up, verifying a key, the
operator's model prices), and
``store_defaults`` fills keyword parameters the caller left out from the
Store (thresholds from its settings, say).

``using`` passes something of the Store's that the caller must not choose
(its blob policy, its event payload limit) as the positional-only parameter
after the customer, ``(session, customer_id, policy, /, …)``, stripped like
the first two: ``put = writes(artifacts.put, using=blob_policy)``.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import uuid
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, Concatenate, Generic, Literal, ParamSpec, TypeVar, overload

from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from flightlog.errors import FlightlogError
from flightlog.services._common import UNIT_SERVICE
from flightlog.store import collisions

if TYPE_CHECKING:
    from flightlog.ingest.small import OneStatement, ParamStyle
    from flightlog.store.core import Store
    from flightlog.store.state import StoreState
    from flightlog.store.sync import SyncStore

P = ParamSpec("P")
R = TypeVar("R")
C = TypeVar("C")
S = TypeVar("S", bound="StoreState")

#: The shape every bound service has: session and customer first, positional-only.
Service = Callable[Concatenate[Session, uuid.UUID, P], R]
#: A service that also takes something of the Store's, after the customer (see ``using``).
ServiceUsing = Callable[Concatenate[Session, uuid.UUID, C, P], R]
#: The same write as one statement (see ``one_statement``): dialect and parameter style first.
Planner = Callable[Concatenate[str, "ParamStyle", uuid.UUID, C, P], "OneStatement[R] | None"]
#: A service bound to no customer (``tenant=False``).
UntenantedService = Callable[Concatenate[Session, P], R]
AfterCommit = Callable[["StoreState", R], None]
#: Keyword-only parameters a bound call takes from the Store when the caller leaves them out.
StoreDefaults = Mapping[str, Callable[["StoreState"], object]]
#: Which unit of work a call runs in (see ``StoreState.unit_of_work``): ``"stale"`` is a
#: read that may be served by a read replica (:mod:`flightlog.store.replica_reads`).
UnitKind = Literal["write", "read", "stale", "operator"]


class Facade(Generic[S]):
    """One aggregate's face of a Store: ``store.tasks``, ``store.runs``, …

    Declared once per aggregate; ``Tasks[Store]`` is the async face and
    ``Tasks[SyncStore]`` the synchronous one.
    """

    def __init__(self, store: S) -> None:
        self._store = store

    @property
    def _customer(self) -> uuid.UUID:
        return self._store.customer_id


class Operation(Generic[P, R]):
    """A service function as a facade method: one call, one transaction."""

    def __init__(
        self,
        service: Callable[..., R],
        *,
        unit: UnitKind,
        tenant: bool = True,
        after_commit: AfterCommit[R] | None = None,
        store_defaults: StoreDefaults | None = None,
        using: Callable[[StoreState], object] | None = None,
        one_statement: Callable[..., OneStatement[R] | None] | None = None,
        generic_plans: bool = False,
    ) -> None:
        # Typed by writes() and reads(), which check the service against P and R.
        self.service = service
        self.generic_plans = generic_plans
        self.one_statement = one_statement
        self.using = using
        self.unit: UnitKind = unit
        self.tenant = tenant
        self.after_commit = after_commit
        self.store_defaults = dict(store_defaults or {})
        self.name = service.__name__
        parameters = inspect.signature(service).parameters
        for name in self.store_defaults:
            if (
                name not in parameters
                or parameters[name].kind is not inspect.Parameter.KEYWORD_ONLY
            ):
                raise TypeError(f"{self.name} has no keyword-only parameter {name!r} to default")

    @property
    def stripped(self) -> int:
        """How many leading positional parameters the Store supplies."""
        return 1 + int(self.tenant) + int(self.using is not None)

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, facade: None, owner: type) -> Operation[P, R]: ...

    @overload
    def __get__(
        self, facade: Facade[Store], owner: type
    ) -> Callable[P, Coroutine[Any, Any, R]]: ...

    @overload
    def __get__(self, facade: Facade[SyncStore], owner: type) -> Callable[P, R]: ...

    def __get__(self, facade: Facade[Any] | None, owner: type) -> Any:
        if facade is None:
            return self
        store = facade._store
        bound = self._bind_async(store) if store.is_async else self._bind_sync(store)
        # Not a data descriptor: the bound method, kept on the instance, is found directly
        # from the next access on.
        facade.__dict__[self.name] = bound
        return bound

    def _leading(self, store: StoreState) -> tuple[object, ...]:
        customer: tuple[object, ...] = (store.customer_id,) if self.tenant else ()
        return customer if self.using is None else (*customer, self.using(store))

    def _fill_defaults(self, store: StoreState, kwargs: dict[str, Any]) -> None:
        for name, fill in self.store_defaults.items():
            if name not in kwargs:
                kwargs[name] = fill(store)

    def _bind_async(self, store: Store) -> Any:
        if store.lane is not None:
            return self._bind_lane(store)
        service, after_commit, unit = self.service, self.after_commit, self.unit
        routed = store.read_paged if self.generic_plans else store.read_routed

        async def run(*args: Any, **kwargs: Any) -> R:
            if unit == "stale":
                return await routed(in_unit, service, *args, **kwargs)
            async with store.unit_of_work(unit) as session:
                session.info[UNIT_SERVICE] = service
                return await session.run_sync(service, *args, **kwargs)

        async def call(*args: Any, **kwargs: Any) -> R:
            plan = self._plan(store, store.engine.dialect, args, kwargs)
            if plan is not None:
                from flightlog.store.one_statement import run_asyncpg

                try:
                    planned = await run_asyncpg(store.engine, plan)
                finally:
                    store.note_write()
                if planned is not None:
                    return planned
            leading = self._leading(store)
            self._fill_defaults(store, kwargs)
            dialect = store.engine.dialect.name
            on_connection = store.connection is not None
            if dialect == "sqlite":
                result = await _uncancellable(run(*leading, *args, **kwargs))
            elif collisions.can_run_again(dialect, on_connection, unit, args, kwargs):
                result = await collisions.run_async(lambda: run(*leading, *args, **kwargs))
            else:
                result = await run(*leading, *args, **kwargs)
            if after_commit is not None:
                after_commit(store, result)
            return result

        return self._dressed(call)

    def _bind_lane(self, store: Store) -> Any:
        """On SQLite: the whole call on a thread, a write in the process's write queue.

        The call is the synchronous Store's (a twin on the lane's sqlite3 engine,
        for the same customer), so it costs one thread hand-off instead of one
        per statement (see :mod:`flightlog.store.sqlite_lane`).
        """
        lane, twin = store.lane, store.sync_twin
        assert lane is not None
        assert twin is not None
        sync_call = self._sync_call(twin)
        run_on = lane.read if self.unit in ("read", "stale") else lane.write

        async def call(*args: Any, **kwargs: Any) -> R:
            plan = self._plan(store, lane.engine.dialect, args, kwargs)
            if plan is not None:
                result = await lane.write_one(plan)
                if result is not None:
                    return result
            return await run_on(functools.partial(sync_call, *args, **kwargs))

        return self._dressed(call)

    def _plan(
        self, store: StoreState, dialect: Dialect, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> OneStatement[R] | None:
        """The call as one statement, when the operation has such a path and it applies.

        Not on a Store inside an embedder's transaction (its units are savepoints
        there), nor on an in-memory database. Input the planner refuses goes the
        declared way, so that the declared service decides which error comes first
        (a suspended customer's invalid event is refused for the suspension, as before).
        """
        if (
            self.one_statement is None
            or getattr(store, "connection", None) is not None
            or store.in_memory  # its one connection is the units of work's, in turn
        ):
            return None
        from flightlog.store.one_statement import param_style

        self._fill_defaults(store, kwargs)
        style = param_style(dialect.driver)
        try:
            return self.one_statement(dialect.name, style, *self._leading(store), *args, **kwargs)
        except FlightlogError:
            return None

    def _bind_sync(self, store: SyncStore) -> Any:
        declared = self._sync_call(store)
        if self.one_statement is None:
            return self._dressed(declared)
        from flightlog.store.one_statement import run_psycopg, run_sqlite

        run = run_psycopg if store.engine.dialect.name == "postgresql" else run_sqlite

        def call(*args: Any, **kwargs: Any) -> R:
            plan = self._plan(store, store.engine.dialect, args, kwargs)
            if plan is not None:
                try:
                    result = run(store.engine, plan)
                finally:
                    store.note_write()
                if result is not None:
                    return result
            return declared(*args, **kwargs)

        return self._dressed(call)

    def _sync_call(self, store: SyncStore) -> Callable[..., R]:
        service, after_commit, unit = self.service, self.after_commit, self.unit

        def call(*args: Any, **kwargs: Any) -> R:
            leading = self._leading(store)
            self._fill_defaults(store, kwargs)
            if unit == "stale":
                result: R = store.read_routed(in_unit, service, *leading, *args, **kwargs)
            else:

                def once() -> R:
                    with store.unit_of_work(unit) as session:
                        session.info[UNIT_SERVICE] = service
                        return service(session, *leading, *args, **kwargs)

                dialect = store.engine.dialect.name
                on_connection = store.connection is not None
                if collisions.can_run_again(dialect, on_connection, unit, args, kwargs):
                    result = collisions.run_sync(once)
                else:
                    result = once()
            if after_commit is not None:
                after_commit(store, result)
            return result

        return call

    def _dressed(self, call: Callable[..., Any]) -> Any:
        """``help(store.tasks.get)`` shows the service's docstring and its signature
        without the session, the customer (and what ``using`` gives)."""
        functools.update_wrapper(call, self.service)
        signature = inspect.signature(self.service)
        call.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=list(signature.parameters.values())[self.stripped :]
        )
        return call


def in_unit(
    session: Session, service: UntenantedService[P, R], /, *args: P.args, **kwargs: P.kwargs
) -> R:
    """``service`` on ``session``, marked as running it (services ask, see ``UNIT_SERVICE``)."""
    session.info[UNIT_SERVICE] = service
    return service(session, *args, **kwargs)


async def _uncancellable(unit: Coroutine[Any, Any, R]) -> R:
    """Run a SQLite unit of work to its end (commit or rollback) even if the caller is cancelled.

    aiosqlite cancelled in the middle of ``AsyncSession.run_sync`` leaves its
    connection inside ``BEGIN IMMEDIATE`` until the garbage collector finds it,
    and every other writer of the database waits for that lock in vain. So the
    unit runs as its own task: a cancelled (or timed-out) caller gets its
    ``CancelledError`` at once, and the transaction still finishes, which for
    a write means it may have been saved, as with any timeout.
    """
    task = asyncio.ensure_future(unit)
    # Retrieve the outcome even when nobody waits for it any more (no "never retrieved").
    task.add_done_callback(lambda done: done.cancelled() or done.exception())
    return await asyncio.shield(task)


@overload
def writes(
    service: Service[P, R],
    *,
    after_commit: AfterCommit[R] | None = None,
    operator: bool = False,
    store_defaults: StoreDefaults | None = None,
) -> Operation[P, R]: ...


@overload
def writes(
    service: ServiceUsing[C, P, R],
    *,
    using: Callable[[StoreState], C],
    after_commit: AfterCommit[R] | None = None,
    operator: bool = False,
    store_defaults: StoreDefaults | None = None,
    one_statement: Planner[C, P, R] | None = None,
) -> Operation[P, R]: ...


@overload
def writes(
    service: UntenantedService[P, R],
    *,
    tenant: Literal[False],
    operator: Literal[True],
    after_commit: AfterCommit[R] | None = None,
) -> Operation[P, R]: ...


def writes(
    service: Callable[..., R],
    *,
    using: Callable[[StoreState], object] | None = None,
    tenant: bool = True,
    after_commit: AfterCommit[R] | None = None,
    operator: bool = False,
    store_defaults: StoreDefaults | None = None,
    one_statement: Callable[..., OneStatement[R] | None] | None = None,
) -> Operation[..., R]:
    """Bind ``service`` as a write: a transaction that commits, or rolls back on error.

    ``one_statement`` is the same write planned as one statement that also does
    the write guard's and the tenant checks (:mod:`flightlog.ingest.small`); the
    Store runs it on the raw driver in a transaction of its own and falls back
    to ``service`` whenever it writes nothing.
    """
    return Operation(
        service,
        unit="operator" if operator else "write",
        tenant=tenant,
        after_commit=after_commit,
        store_defaults=store_defaults,
        using=using,
        one_statement=one_statement,
    )


@overload
def reads(
    service: Service[P, R],
    *,
    store_defaults: StoreDefaults | None = None,
    stale_ok: bool = False,
    generic_plans: bool = False,
) -> Operation[P, R]: ...


@overload
def reads(
    service: ServiceUsing[C, P, R],
    *,
    using: Callable[[StoreState], C],
    store_defaults: StoreDefaults | None = None,
    stale_ok: bool = False,
) -> Operation[P, R]: ...


@overload
def reads(
    service: Callable[Concatenate[Session, C, P], R],
    *,
    using: Callable[[StoreState], C],
    tenant: Literal[False],
) -> Operation[P, R]: ...


@overload
def reads(
    service: UntenantedService[P, R], *, tenant: Literal[False], stale_ok: bool = False
) -> Operation[P, R]: ...


def reads(
    service: Callable[..., R],
    *,
    using: Callable[[StoreState], object] | None = None,
    tenant: bool = True,
    store_defaults: StoreDefaults | None = None,
    stale_ok: bool = False,
    generic_plans: bool = False,
) -> Operation[..., R]:
    """Bind ``service`` as a read: on SQLite it never takes the write lock.

    ``stale_ok=True`` says the answer may trail the latest commits by a moment
    (a list, a timeline, a chart): with read replicas configured it is read on
    one that has replayed the caller's own writes (:mod:`flightlog.store.replica_reads`).
    Leave it off for reads a workflow decides by (an entity by id, a queue).
    ``generic_plans=True`` (with ``stale_ok``) says every statement it runs is right
    under one plan for all values: without replicas, the async Store runs it on its
    paging pool (:mod:`flightlog.db.paging_pool`).
    """
    if generic_plans and not stale_ok:
        raise TypeError(f"{service.__name__}: generic_plans applies to stale_ok reads")
    return Operation(
        service,
        unit="stale" if stale_ok else "read",
        tenant=tenant,
        store_defaults=store_defaults,
        using=using,
        generic_plans=generic_plans,
    )

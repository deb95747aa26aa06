"""Service functions bound into the Store: declared once, typed through.

A service function is the one declaration of an operation::

    async def get_task(session: AsyncSession, customer_id: uuid.UUID, /, task_id: uuid.UUID) -> Task

A facade binds it with one line, ``get = reads(tasks.get_task)``, and
``store.tasks.get(task_id)`` then runs it in one transaction for the
Store's customer. The session and the customer are the two positional-only
parameters every bound service starts with, so that ``Concatenate`` can
strip them: mypy (and an editor) sees the remaining parameters and the
return type exactly as the service declares them. A keyword-only
``customer_id`` could not be stripped this way (PEP 612).

``writes`` runs the service in a write transaction (``BEGIN IMMEDIATE`` on
SQLite), ``reads`` in a read-only one (``DEFERRED``: no write lock).
``after_commit`` runs once the transaction has committed, for work that
must not happen if it rolls back (deleting blob files). ``unit`` runs a write
in the facade's own unit of work instead (operator acts that must skip the
tenant write guard), and ``store_defaults`` fills keyword parameters the
caller left out from the Store (thresholds from its settings, say).

``using`` passes something of the Store's that the caller must not choose
(its blob policy, its event payload limit) as a third positional-only
parameter, ``(session, customer_id, policy, /, …)``, stripped like the first
two: ``put = writes(artifacts.put, using=blob_policy)``.
"""

from __future__ import annotations

import functools
import inspect
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from flightlog.store.core import Store

P = ParamSpec("P")
R = TypeVar("R")
C = TypeVar("C")

#: The shape every bound service has: session and customer first, positional-only.
Service = Callable[Concatenate[AsyncSession, uuid.UUID, P], Awaitable[R]]
#: A service that also takes something of the Store's, third (see ``using``).
ServiceUsing = Callable[Concatenate[AsyncSession, uuid.UUID, C, P], Awaitable[R]]
AfterCommit = Callable[["Store", R], None]
#: A unit of work other than ``Store.transaction()`` / ``Store.reader()``.
Unit = Callable[["Store"], AbstractAsyncContextManager[AsyncSession]]
#: Keyword-only parameters a bound call takes from the Store when the caller leaves them out.
StoreDefaults = Mapping[str, Callable[["Store"], object]]


class Facade:
    """One aggregate's face of a Store: ``store.tasks``, ``store.runs``, …"""

    def __init__(self, store: Store) -> None:
        self._store = store

    @property
    def _customer(self) -> uuid.UUID:
        return self._store.customer_id


class Operation(Generic[P, R]):
    """A service function as a facade method: one call, one transaction."""

    def __init__(
        self,
        service: Callable[..., Awaitable[R]],
        *,
        writes: bool,
        after_commit: AfterCommit[R] | None = None,
        unit: Unit | None = None,
        store_defaults: StoreDefaults | None = None,
        using: Callable[[Store], object] | None = None,
    ) -> None:
        # Typed by writes() and reads(), which check the service against P and R.
        self.service = service
        self.using = using
        self.writes = writes
        self.after_commit = after_commit
        self.unit = unit
        self.store_defaults = dict(store_defaults or {})
        self.name = service.__name__
        parameters = inspect.signature(service).parameters
        for name in self.store_defaults:
            if (
                name not in parameters
                or parameters[name].kind is not inspect.Parameter.KEYWORD_ONLY
            ):
                raise TypeError(f"{self.name} has no keyword-only parameter {name!r} to default")

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, facade: None, owner: type) -> Operation[P, R]: ...

    @overload
    def __get__(self, facade: Facade, owner: type) -> Callable[P, Coroutine[Any, Any, R]]: ...

    def __get__(self, facade: Facade | None, owner: type) -> Any:
        if facade is None:
            return self
        bound = self._bind(facade._store)
        # Not a data descriptor: the bound method, kept on the instance, is found directly
        # from the next access on.
        facade.__dict__[self.name] = bound
        return bound

    def _bind(self, store: Store) -> Callable[P, Coroutine[Any, Any, R]]:
        service, writes, after_commit = self.service, self.writes, self.after_commit
        own_unit, store_defaults, using = self.unit, self.store_defaults, self.using

        async def call(*args: P.args, **kwargs: P.kwargs) -> R:
            leading = (store.customer_id,) if using is None else (store.customer_id, using(store))
            for name, fill in store_defaults.items():
                if name not in kwargs:
                    kwargs[name] = fill(store)
            if own_unit is not None:
                unit = own_unit(store)
            else:
                unit = store.transaction() if writes else store.reader()
            async with unit as session:
                result = await service(session, *leading, *args, **kwargs)
            if after_commit is not None:
                after_commit(store, result)
            return result

        # help(store.tasks.get) shows the service's docstring and its signature
        # without the session, the customer (and what ``using`` gives).
        functools.update_wrapper(call, service)
        signature = inspect.signature(service)
        call.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=list(signature.parameters.values())[2 if using is None else 3 :]
        )
        return call


@overload
def writes(
    service: Service[P, R],
    *,
    after_commit: AfterCommit[R] | None = None,
    unit: Unit | None = None,
    store_defaults: StoreDefaults | None = None,
) -> Operation[P, R]: ...


@overload
def writes(
    service: ServiceUsing[C, P, R],
    *,
    using: Callable[[Store], C],
    after_commit: AfterCommit[R] | None = None,
    unit: Unit | None = None,
    store_defaults: StoreDefaults | None = None,
) -> Operation[P, R]: ...


def writes(
    service: Callable[..., Awaitable[R]],
    *,
    using: Callable[[Store], object] | None = None,
    after_commit: AfterCommit[R] | None = None,
    unit: Unit | None = None,
    store_defaults: StoreDefaults | None = None,
) -> Operation[..., R]:
    """Bind ``service`` as a write: a transaction that commits, or rolls back on error."""
    return Operation(
        service,
        writes=True,
        after_commit=after_commit,
        unit=unit,
        store_defaults=store_defaults,
        using=using,
    )


@overload
def reads(
    service: Service[P, R], *, store_defaults: StoreDefaults | None = None
) -> Operation[P, R]: ...


@overload
def reads(
    service: ServiceUsing[C, P, R],
    *,
    using: Callable[[Store], C],
    store_defaults: StoreDefaults | None = None,
) -> Operation[P, R]: ...


def reads(
    service: Callable[..., Awaitable[R]],
    *,
    using: Callable[[Store], object] | None = None,
    store_defaults: StoreDefaults | None = None,
) -> Operation[..., R]:
    """Bind ``service`` as a read: on SQLite it never takes the write lock."""
    return Operation(service, writes=False, store_defaults=store_defaults, using=using)

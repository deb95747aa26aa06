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
must not happen if it rolls back (deleting blob files).
"""

from __future__ import annotations

import functools
import inspect
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from flightlog.store.core import Store

P = ParamSpec("P")
R = TypeVar("R")

#: The shape every bound service has: session and customer first, positional-only.
Service = Callable[Concatenate[AsyncSession, uuid.UUID, P], Awaitable[R]]
AfterCommit = Callable[["Store", R], None]


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
        service: Service[P, R],
        *,
        writes: bool,
        after_commit: AfterCommit[R] | None = None,
    ) -> None:
        self.service = service
        self.writes = writes
        self.after_commit = after_commit
        self.name = service.__name__

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

        async def call(*args: P.args, **kwargs: P.kwargs) -> R:
            unit = store.transaction() if writes else store.reader()
            async with unit as session:
                result = await service(session, store.customer_id, *args, **kwargs)
            if after_commit is not None:
                after_commit(store, result)
            return result

        # help(store.tasks.get) shows the service's docstring and its signature
        # without the session and the customer.
        functools.update_wrapper(call, service)
        signature = inspect.signature(service)
        call.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=list(signature.parameters.values())[2:]
        )
        return call


def writes(
    service: Service[P, R], *, after_commit: AfterCommit[R] | None = None
) -> Operation[P, R]:
    """Bind ``service`` as a write: a transaction that commits, or rolls back on error."""
    return Operation(service, writes=True, after_commit=after_commit)


def reads(service: Service[P, R]) -> Operation[P, R]:
    """Bind ``service`` as a read: on SQLite it never takes the write lock."""
    return Operation(service, writes=False)

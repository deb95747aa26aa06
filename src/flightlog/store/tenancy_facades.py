"""Facades for tenancy: the Store's customer record, its API keys and its agents.

Each method is a service function bound for the Store's customer (see
``store/binding.py``): one committed transaction, with the service's own
parameters, return type and docstring. A few methods are *operator* actions
and do not go through ``Store.transaction()``; see :func:`_operator_session`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from flightlog.enums import CustomerPlan
from flightlog.models import Customer
from flightlog.services import agents, api_keys, customers
from flightlog.store.binding import Facade, StoreDefaults, reads, writes

if TYPE_CHECKING:
    from flightlog.store.core import Store


@asynccontextmanager
async def _operator_session(store: Store) -> AsyncIterator[AsyncSession]:
    """A write transaction that skips the tenant write-guard, for operator actions.

    ``Store.transaction()`` refuses to start for a SUSPENDED customer, so it
    cannot be used to reactivate one; the status change must bypass the guard.
    ``Store.reader()`` is no substitute even with an explicit commit: on SQLite
    it opens a DEFERRED transaction, which takes the write lock only at the
    first write and can then fail with "database is locked" instead of
    waiting. A plain ``session.begin()`` on the Store's session factory gets
    BEGIN IMMEDIATE on SQLite (the engine's default) and, in an embedded or
    test Store, a savepoint on the caller's connection, like every other write.

    Callers exposing these methods over the network must restrict them to
    operators: a tenant must not be able to lift its own suspension.
    """
    async with store._sessions() as session, session.begin():
        yield session


class Customers(Facade):
    """``store.customers``: the Store's own customer record; sign-up and status are operator acts.

    There is no ``list`` here: listing every tenant is an operator's view across
    customers, which a tenant-bound Store must not offer. Operators call
    :func:`flightlog.services.customers.list_customers` with their own session.
    """

    get = reads(customers.get_customer)
    update = writes(customers.update_customer)
    set_status = writes(customers.set_customer_status, unit=_operator_session)
    suspend = writes(customers.suspend_customer, unit=_operator_session)
    reactivate = writes(customers.reactivate_customer, unit=_operator_session)
    churn = writes(customers.churn_customer, unit=_operator_session)

    async def create(
        self,
        *,
        name: str,
        email: str,
        plan: CustomerPlan | str = CustomerPlan.FREE,
        metadata: dict[str, Any] | None = None,
        actor: str | None = None,
    ) -> Customer:
        """Operator: sign up a new tenant (open a Store with its id to act for it).

        Written out rather than bound: a binding passes the Store's customer,
        and this act has none (it creates one).
        """
        async with _operator_session(self._store) as s:
            return await customers.create_customer(
                s, name=name, email=email, plan=plan, metadata=metadata, actor=actor
            )


class ApiKeys(Facade):
    """``store.api_keys``: issue, list and revoke the customer's keys; verify any key.

    ``create``'s result carries the key's ``key``: the only copy of the secret.
    """

    create = writes(api_keys.create_key)
    get = reads(api_keys.get_key)
    list = reads(api_keys.list_keys)
    revoke = writes(api_keys.revoke_key)

    async def verify(self, key: str) -> api_keys.VerifiedKey:
        """Which customer a presented key speaks for: not bound to the Store's customer.

        It runs in an operator session because it must work whatever customer the
        Store was opened for, and it writes ``last_used_at``; the service itself
        refuses keys of a customer that is not ACTIVE. Written out rather than
        bound: a binding passes the Store's customer, and this act takes none.
        """
        async with _operator_session(self._store) as s:
            return await api_keys.verify_key(s, key)


def _degraded_after(store: Store) -> float:
    return store.settings.agent_degraded_after_seconds


def _failed_after(store: Store) -> float:
    return store.settings.agent_failed_after_seconds


#: Health thresholds: the Store's settings, unless a call gives its own.
_HEALTH_THRESHOLDS: StoreDefaults = {
    "degraded_after": _degraded_after,
    "failed_after": _failed_after,
}


class Agents(Facade):
    """``store.agents``: register, heartbeat, deregister, delete, list by derived health."""

    register = writes(agents.register)
    get = reads(agents.get_agent)
    status = reads(agents.get_agent_status, store_defaults=_HEALTH_THRESHOLDS)
    heartbeat = writes(agents.heartbeat)
    deregister = writes(agents.deregister)
    delete = writes(agents.delete_agent)
    list = reads(agents.list_agents, store_defaults=_HEALTH_THRESHOLDS)

"""Facades for tenancy: the Store's customer record, its API keys and its agents.

Each method is a service function bound for the Store's customer (see
``store/binding.py``): one committed transaction, with the service's own
parameters, return type and docstring. A few methods are *operator* actions
and do not go through ``Store.transaction()``; see :func:`_operator_session`.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from flightlog.enums import AgentStatus, AgentType, CustomerPlan
from flightlog.models import Agent, Customer
from flightlog.services import agents, api_keys, customers
from flightlog.services._common import utc_now
from flightlog.store.binding import Facade, reads, writes
from flightlog.store.facades import _Facade

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


class Agents(_Facade):
    """``store.agents``: register, heartbeat, deregister, delete, list by derived health."""

    def _thresholds(self, kw: dict[str, Any]) -> dict[str, Any]:
        settings = self._store.settings
        kw.setdefault("degraded_after", settings.agent_degraded_after_seconds)
        kw.setdefault("failed_after", settings.agent_failed_after_seconds)
        return kw

    async def register(self, name: str, agent_type: AgentType | str, **kw: Any) -> Agent:
        async with self._store.transaction() as s:
            return await agents.register(
                s, customer_id=self._customer, name=name, agent_type=agent_type, **kw
            )

    async def get(self, agent_id: uuid.UUID) -> Agent:
        async with self._store.reader() as s:
            return await agents.get_agent(s, agent_id, customer_id=self._customer)

    async def status(self, agent_id: uuid.UUID, *, now: datetime | None = None) -> AgentStatus:
        """The agent's derived health, with the thresholds from settings."""
        agent = await self.get(agent_id)
        limits = self._thresholds({})
        return agents.effective_status(agent, now or utc_now(), **limits)

    async def heartbeat(self, agent_id: uuid.UUID) -> Agent:
        async with self._store.transaction() as s:
            return await agents.heartbeat(s, agent_id, customer_id=self._customer)

    async def deregister(self, agent_id: uuid.UUID, **kw: Any) -> Agent:
        async with self._store.transaction() as s:
            return await agents.deregister(s, agent_id, customer_id=self._customer, **kw)

    async def delete(self, agent_id: uuid.UUID, *, actor: str | None = None) -> None:
        async with self._store.transaction() as s:
            await agents.delete_agent(s, agent_id, customer_id=self._customer, actor=actor)

    async def list(self, **filters: Any) -> builtins.list[Agent]:
        """Filters: ``status`` (derived), ``capability``, ``agent_type``, ``now``, thresholds."""
        async with self._store.reader() as s:
            return await agents.list_agents(
                s, customer_id=self._customer, **self._thresholds(filters)
            )

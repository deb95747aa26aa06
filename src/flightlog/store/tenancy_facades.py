"""Facades for tenancy: the Store's customer record, its API keys and its agents.

Each method is a service function bound for the Store's customer (see
``store/binding.py``): one committed transaction, with the service's own
parameters, return type and docstring. A few are *operator* acts, bound with
``operator=True``: they run in a transaction that skips the tenant write
guard (see ``unit_of_work("operator")``), and callers exposing them over the
network must restrict them to operators: a tenant must not be able to lift
its own suspension. Signing up a customer, verifying a key and the model prices act for no
customer, so they are bound with ``tenant=False``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flightlog.services import (
    agent_activity,
    agents,
    api_keys,
    blobs,
    customer_deletion,
    customers,
    model_prices,
)
from flightlog.store.binding import Facade, S, StoreDefaults, reads, writes

if TYPE_CHECKING:
    from flightlog.store.state import StoreState


def _remove_customer_files(
    store: StoreState, result: customer_deletion.CustomerDeletionResult
) -> None:
    """After the commit: the blob files only the deleted customer's artifacts used."""
    blobs.remove_files(store.blob_policy.blob_dir, result.files_to_remove)


class Customers(Facade[S]):
    """``store.customers``: the Store's own customer record; sign-up and status are operator acts.

    There is no ``list`` here: listing every tenant is an operator's view across
    customers, which a tenant-bound Store must not offer. Operators call
    :func:`flightlog.services.customers.list_customers` with their own session.
    """

    get = reads(customers.get_customer)
    update = writes(customers.update_customer)
    set_status = writes(customers.set_customer_status, operator=True)
    suspend = writes(customers.suspend_customer, operator=True)
    reactivate = writes(customers.reactivate_customer, operator=True)
    churn = writes(customers.churn_customer, operator=True)
    #: Operator: sign up a new tenant (open a Store with its id to act for it).
    create = writes(customers.create_customer, tenant=False, operator=True)
    #: Operator: what deleting the customer would remove, by table.
    footprint = reads(customer_deletion.customer_footprint)
    #: Operator: delete the customer and everything it owns; audited, blob files after commit.
    delete = writes(
        customer_deletion.delete_customer, operator=True, after_commit=_remove_customer_files
    )
    #: Operator: the audit records of deleted customers (they belong to no customer).
    deletions = reads(customer_deletion.list_customer_deletions, stale_ok=True, tenant=False)


class ApiKeys(Facade[S]):
    """``store.api_keys``: issue, list and revoke the customer's keys; verify any key.

    ``create``'s result carries the key's ``key``: the only copy of the secret.
    """

    create = writes(api_keys.create_key)
    get = reads(api_keys.get_key)
    list = reads(api_keys.list_keys)
    revoke = writes(api_keys.revoke_key)
    #: Which customer a presented key speaks for, whatever customer the Store is for;
    #: a write, as it stamps ``last_used_at``.
    verify = writes(api_keys.verify_key, tenant=False, operator=True)


class ModelPrices(Facade[S]):
    """``store.model_prices``: the operator's price table, for costs computed at ingest.

    One table for every customer (see :mod:`flightlog.otlp.prices`), so the
    edits are operator acts bound to no customer, like signing one up: expose
    them only to operators. ``list`` shows the shipped defaults too.
    """

    list = reads(model_prices.list_prices, stale_ok=True, tenant=False)
    set = writes(model_prices.set_price, tenant=False, operator=True)
    set_many = writes(model_prices.set_prices, tenant=False, operator=True)
    delete = writes(model_prices.delete_price, tenant=False, operator=True)


def _degraded_after(store: StoreState) -> float:
    return store.settings.agent_degraded_after_seconds


def _failed_after(store: StoreState) -> float:
    return store.settings.agent_failed_after_seconds


#: Health thresholds: the Store's settings, unless a call gives its own.
_HEALTH_THRESHOLDS: StoreDefaults = {
    "degraded_after": _degraded_after,
    "failed_after": _failed_after,
}


class Agents(Facade[S]):
    """``store.agents``: register, heartbeat, deregister, delete, list by derived health,
    and what one has done (its runs, error rates, tokens and cost)."""

    register = writes(agents.register)
    get = reads(agents.get_agent)
    status = reads(agents.get_agent_status, store_defaults=_HEALTH_THRESHOLDS)
    heartbeat = writes(agents.heartbeat)
    deregister = writes(agents.deregister)
    delete = writes(agents.delete_agent)
    list = reads(agents.list_agents, stale_ok=True, store_defaults=_HEALTH_THRESHOLDS)
    activity = reads(agent_activity.agent_activity, stale_ok=True)

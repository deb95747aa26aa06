"""``client.customers``: the operator's customer acts over HTTP (an ``operator``-scope key).

Deleting a customer names the customer to delete, while the Store's
``store.customers.delete`` deletes the Store's own customer, so the route is
written out rather than bound (``bind`` strips the customer).
"""

from __future__ import annotations

import uuid

from flightlog.client.binding import Exchange, Facade, M, fill, send, written_out
from flightlog.schemas.customers import CustomerDeletionOut


class Customers(Facade[M]):
    """``client.customers``: delete a customer with everything it owns (operator keys only)."""

    @written_out(
        "DELETE",
        "/customers/{customer_id}",
        why="an operator act on the customer it names; the Store's deletes its own customer",
    )
    @staticmethod
    def delete(
        customer_id: uuid.UUID, *, actor: str | None = None, reason: str | None = None
    ) -> Exchange[CustomerDeletionOut]:
        """Operator: delete the customer and everything it owns; the audit record stays.

        Needs a key with the ``operator`` scope (else ``PermissionDenied``); an unknown
        customer is ``NotFound``; the key's own customer is ``Conflict``.
        """
        path = fill("/customers/{customer_id}", customer_id=customer_id)
        return send("DELETE", path, CustomerDeletionOut, params={"actor": actor, "reason": reason})

"""Clients of the HTTP API, for agents and workers that run elsewhere.

``AsyncClient`` (asyncio) and ``Client`` (plain code) are organised like the
Store (``client.tasks.create(...)``), take the same typed parameters, answer
the API's models (:mod:`flightlog.schemas`) and raise the same error classes
(``NotFound``, ``ValidationError``, ``InvalidTransition``...), so code written
against a local Store moves to a remote server with few changes. A server
that cannot be reached is :class:`~flightlog.errors.ServerUnreachable`.
"""

from flightlog.client.clients import AsyncClient, Client
from flightlog.errors import PayloadTooLarge, ServerUnreachable, Unauthenticated

__all__ = ["AsyncClient", "Client", "PayloadTooLarge", "ServerUnreachable", "Unauthenticated"]

"""The two types to write Flightlog code against, to run it embedded or remote.

The Stores and the HTTP clients are four faces of the same operations, each
derived from one declaration per operation (the service function), with the
same facades, method names, parameters and errors. Code typed against
:data:`Flightlog` runs on a :class:`~flightlog.store.SyncStore` or a
:class:`~flightlog.client.Client`, code typed against :data:`AsyncFlightlog`
on a :class:`~flightlog.store.Store` or an :class:`~flightlog.client.AsyncClient`;
switching is the one line that opens it, and mypy checks the code against
both faces. A union rather than a hand-written ``Protocol``: a protocol would
be one more copy of every signature, to keep in step by hand (see decision 7).
What a call answers is the Store's model (``Task``) embedded and the API's
(``TaskOut``) remote; both carry the same field names.
"""

from __future__ import annotations

from typing import TypeAlias

from flightlog.client import AsyncClient, Client
from flightlog.store import Store, SyncStore

#: Synchronous code that runs embedded or remote.
Flightlog: TypeAlias = SyncStore | Client
#: Asyncio code that runs embedded or remote.
AsyncFlightlog: TypeAlias = Store | AsyncClient

__all__ = ["AsyncFlightlog", "Flightlog"]

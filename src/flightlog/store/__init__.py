"""The Store: simple, transaction-per-call access to every service.

``open_store`` gives a :class:`Store` whose attributes (``store.tasks``,
``store.runs`` …) wrap the service functions: each call runs in its own
transaction and commits. To compose several calls atomically, use
``async with store.transaction() as session`` and call the services in
``flightlog.services`` with that session.
"""

from flightlog.store.core import Store, open_store

__all__ = ["Store", "open_store"]

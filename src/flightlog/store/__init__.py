"""The Store: simple, transaction-per-call access to every service.

``open_store`` gives a :class:`Store` whose attributes (``store.tasks``,
``store.runs`` …) wrap the service functions: each call runs in its own
transaction and commits. To compose several calls atomically, use
``async with store.transaction() as session`` and run the services of
``flightlog.services`` (plain functions on a ``Session``) in it with
``await session.run_sync(service, store.customer_id, …)``. :class:`SyncStore`
(``open_store_sync``) is the same surface without ``async``.
"""

from flightlog.store.core import Store, open_store
from flightlog.store.sync import SyncStore, open_store_sync

__all__ = ["Store", "SyncStore", "open_store", "open_store_sync"]

"""Flightlog: the system of record for multi-agent AI workflows.

Start with :func:`open_store` (async) or :func:`open_store_sync`; the enums
and the error hierarchy are re-exported here so applications import from one
place.

Importing this package is cheap (issue 13): the enums and errors are plain
Python and load at once, while every name that needs SQLAlchemy, the services,
the HTTP clients or httpx (``open_store``, ``Store``, ``Client``, ``NewEvent``
...) is resolved on first use by the module-level :func:`__getattr__`
(PEP 562). A script that only needs ``flightlog.enums``, the CLI's ``--help``
or a worker that talks HTTP does not pay for the ORM, Alembic and every
service. The ``TYPE_CHECKING`` block below declares the same names eagerly
for mypy and IDEs, so both see one public surface.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from flightlog.enums import (
    AgentRunStatus,
    AgentType,
    ArtifactType,
    EventSeverity,
    EventType,
    MetricType,
    RunStatus,
    TaskStatus,
)
from flightlog.errors import (
    ConfigurationError,
    Conflict,
    DatabaseUnavailable,
    FlightlogError,
    InvalidTransition,
    MigrationError,
    NotFound,
    PermissionDenied,
    StatementTimeout,
    ValidationError,
    WriteCollision,
)

if TYPE_CHECKING:
    from flightlog.client import AsyncClient, Client
    from flightlog.faces import AsyncFlightlog, Flightlog
    from flightlog.services.blobs import ArtifactIntegrityError
    from flightlog.services.events import NewEvent
    from flightlog.services.metrics import NewMetric
    from flightlog.store import Store, SyncStore, open_store, open_store_sync

__version__ = "0.1.0"

#: Public name -> the module that defines it, imported on first access.
_LAZY: dict[str, str] = {
    "ArtifactIntegrityError": "flightlog.services.blobs",
    "AsyncClient": "flightlog.client",
    "AsyncFlightlog": "flightlog.faces",
    "Client": "flightlog.client",
    "Flightlog": "flightlog.faces",
    "NewEvent": "flightlog.services.events",
    "NewMetric": "flightlog.services.metrics",
    "Store": "flightlog.store",
    "SyncStore": "flightlog.store",
    "open_store": "flightlog.store",
    "open_store_sync": "flightlog.store",
}


if not TYPE_CHECKING:
    # Defined for the interpreter only: mypy would type every unknown attribute
    # of this module by this function instead of reporting it.
    def __getattr__(name: str) -> Any:
        """Import the module behind a lazy public name once, then cache the name here.

        Caching in the module's globals means the second access is an ordinary
        attribute lookup and this function is not called again for that name.
        """
        module_name = _LAZY.get(name)
        if module_name is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        try:
            value = getattr(importlib.import_module(module_name), name)
        except AttributeError as exc:
            # An AttributeError escaping here would be taken for "no such name":
            # `from flightlog import open_store` would then say only "cannot import
            # name" and hide the module that actually failed to import.
            raise ImportError(f"flightlog.{name} could not be imported: {exc!r}") from exc
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    """List the lazy names too, so ``dir(flightlog)`` and completion show the whole API."""
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "AgentRunStatus",
    "AgentType",
    "ArtifactIntegrityError",
    "ArtifactType",
    "AsyncClient",
    "AsyncFlightlog",
    "Client",
    "ConfigurationError",
    "Conflict",
    "DatabaseUnavailable",
    "EventSeverity",
    "EventType",
    "Flightlog",
    "FlightlogError",
    "InvalidTransition",
    "MetricType",
    "MigrationError",
    "NewEvent",
    "NewMetric",
    "NotFound",
    "PermissionDenied",
    "RunStatus",
    "StatementTimeout",
    "Store",
    "SyncStore",
    "TaskStatus",
    "ValidationError",
    "WriteCollision",
    "open_store",
    "open_store_sync",
]

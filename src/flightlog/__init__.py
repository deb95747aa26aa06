"""Flightlog: the system of record for multi-agent AI workflows.

Start with :func:`open_store` (async) or :func:`open_store_sync`; the enums
and the error hierarchy are re-exported here so applications import from one
place.
"""

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
    ValidationError,
)
from flightlog.faces import AsyncFlightlog, Flightlog
from flightlog.services.blobs import ArtifactIntegrityError
from flightlog.services.events import NewEvent
from flightlog.services.metrics import NewMetric
from flightlog.store import Store, SyncStore, open_store, open_store_sync

__version__ = "0.1.0"

__all__ = [
    "AgentRunStatus",
    "AgentType",
    "ArtifactIntegrityError",
    "ArtifactType",
    "AsyncFlightlog",
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
    "Store",
    "SyncStore",
    "TaskStatus",
    "ValidationError",
    "open_store",
    "open_store_sync",
]

"""One hierarchy of domain errors, so every caller can catch what it handles.

The CLI and the HTTP API map these to exit codes and status codes in one
place each; services never raise transport-specific errors.
"""

from __future__ import annotations

from typing import Any


class FlightlogError(Exception):
    """Base of every error Flightlog raises on purpose."""

    code = "flightlog_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ConfigurationError(FlightlogError):
    """Settings or a database URL that Flightlog cannot use."""

    code = "configuration_error"


class ValidationError(FlightlogError):
    """Input that breaks a rule of the domain; nothing was written."""

    code = "validation_error"


class NotFound(FlightlogError):
    """The entity does not exist, or is not visible to the caller's tenant."""

    code = "not_found"


class Conflict(FlightlogError):
    """The write collides with existing data (a unique key, a concurrent change)."""

    code = "conflict"


class PermissionDenied(FlightlogError):
    """The caller may not do this: a suspended or churned customer, a revoked API key."""

    code = "permission_denied"


class InvalidTransition(FlightlogError):
    """A status change that the lifecycle's transition table does not allow."""

    code = "invalid_transition"

    def __init__(self, entity: str, from_status: str, to_status: str) -> None:
        super().__init__(
            f"{entity} cannot move from {from_status} to {to_status}",
            entity=entity,
            from_status=from_status,
            to_status=to_status,
        )
        self.entity = entity
        self.from_status = from_status
        self.to_status = to_status


class DatabaseUnavailable(FlightlogError):
    """The database cannot serve right now (down, restarting, unreachable, locked); retry later.

    Nothing was written. The HTTP API answers 503 with ``Retry-After``.
    """

    code = "database_unavailable"


class MigrationError(FlightlogError):
    """The schema is not at the revision the code needs, or a migration failed."""

    code = "migration_error"

"""The one error body every failed request answers (see :mod:`flightlog.api.openapi`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ErrorDetail(BaseModel):
    model_config = ConfigDict(title="ErrorDetail")

    code: str = Field(
        description="Stable and machine-readable: unauthenticated, permission_denied, "
        "not_found, invalid_transition, conflict, payload_too_large, validation_error, ..."
    )
    message: str = Field(description="One sentence for a person.")
    details: dict[str, Any] = Field(
        description="Structured context, e.g. problems (a list of {location, message}) "
        "for invalid input, or from_status and to_status for a refused transition."
    )


class ErrorBody(BaseModel):
    """Every error the API answers: ``{"error": {"code", "message", "details"}}``."""

    error: ErrorDetail

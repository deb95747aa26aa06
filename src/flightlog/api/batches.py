"""Batch bodies read straight into the bulk ingest path.

Validating a batch into pydantic models first and then preparing each model
for the insert would check every row twice. Instead the body is decoded once
and its plain dicts go to :mod:`flightlog.ingest`, whose fast validator
decides exactly as ``NewEvent`` / ``NewMetric`` do (a property test holds
them equal) and names the failing row as ``#index``. The models still
describe the body in the OpenAPI document.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from pydantic import BaseModel

from flightlog.enums import EventType
from flightlog.errors import ValidationError
from flightlog.schemas.events import SERVER_EVENT_TYPES
from flightlog.schemas.fields import MAX_BATCH

_REF_TEMPLATE = "#/components/schemas/{model}"


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema(ref_template=_REF_TEMPLATE)


def documented_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` that documents a body the route reads itself.

    The schema's references point into the document's components, which
    :func:`publish_body_schemas` fills in.
    """
    schema = _schema(model)
    schema.pop("$defs", None)
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def publish_body_schemas(app: FastAPI, models: tuple[type[BaseModel], ...]) -> None:
    """Add the schemas the documented bodies refer to into the app's OpenAPI components."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            components = document.setdefault("components", {}).setdefault("schemas", {})
            for model in models:
                for name, definition in _schema(model).get("$defs", {}).items():
                    components.setdefault(name, definition)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


async def read_batch(request: Request, field: str) -> list[Any]:
    """The list under ``field`` of a JSON body ``{field: [...]}``, 1 to MAX_BATCH items."""
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError(f"the request body is not JSON: {exc}") from None
    except RecursionError:
        # The depth ceiling refuses such bodies first; this is for an app mounted without it.
        raise ValidationError("the request body nests too deeply to read") from None
    if not isinstance(body, dict) or set(body) != {field}:
        raise ValidationError(f'the request body must be a JSON object {{"{field}": [...]}}')
    items = body[field]
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
        raise ValidationError(f"{field} must be a list of 1 to {MAX_BATCH:,} objects")
    return items


def refuse_server_events(events: list[Any]) -> None:
    """Clients may not write the STATUS_CHANGE and AUDIT events Flightlog itself writes."""
    for index, event in enumerate(events):
        kind = event.get("event_type") if isinstance(event, dict) else None
        if not isinstance(kind, str):
            continue
        try:
            member = EventType(kind)
        except ValueError:
            continue  # the ingest validator words that error
        if member in SERVER_EVENT_TYPES:
            raise ValidationError(
                f"event #{index}: {member} events are written by Flightlog itself when state "
                "changes; send LOG, MESSAGE, RESULT or another type",
                index=index,
            )


def refuse_times_not_text(items: list[Any], field: str, what: str) -> None:
    """Times come as ISO 8601 text: a number is refused, not read as a Unix timestamp.

    (The models behind the ingest path are also for Python callers, whose pydantic
    validation would take a number.)
    """
    for index, item in enumerate(items):
        value = item.get(field) if isinstance(item, dict) else None
        if value is not None and not isinstance(value, str):
            raise ValidationError(
                f"{what} #{index}: {field} must be an ISO 8601 time with a UTC offset",
                index=index,
            )

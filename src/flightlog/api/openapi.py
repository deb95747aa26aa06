"""The OpenAPI document as the contract: every error status a route can answer, in one shape.

Routes declare their success response; this module adds, in one place, the
errors each operation can answer, all with :class:`ErrorBody`:

- 401, 403, 503 and 504 on every operation that needs an API key (they all
  reach the database, and a statement can run past the statement timeout);
- 404 where the path, the query or the body carries an id (the entity, or one
  it refers to, may not exist for this customer);
- 409 on every write (a lifecycle that forbids the change, a unique key taken);
- 413 where there is a request body;
- 422 where there is any input to validate, replacing FastAPI's
  ``HTTPValidationError``: :mod:`flightlog.api.errors` reshapes validation
  errors to the one error body.

``tests/test_api_contract.py`` runs schemathesis against the app on both
databases to hold the server to this document.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI

from flightlog.schemas.errors import ErrorBody

_REF_TEMPLATE = "#/components/schemas/{model}"
_WRITES = frozenset({"post", "put", "patch", "delete"})
_METHODS = frozenset({"get", "head", "options", *_WRITES})
_ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
#: Set on an operation (``openapi_extra``) that documents every error it answers itself, in
#: another protocol's shape (the OTLP receivers' ``google.rpc.Status``): none is added to it.
OWN_ERRORS = "x-flightlog-own-errors"

#: Status -> (description, response headers).
ERROR_RESPONSES: dict[int, tuple[str, dict[str, Any]]] = {
    401: (
        "No API key, or one that is unknown, revoked or expired, or whose customer is "
        "suspended (`unauthenticated`).",
        {
            "WWW-Authenticate": {
                "description": "Always `Bearer`.",
                "schema": {"type": "string"},
            }
        },
    ),
    403: ("The key's scopes do not allow this request (`permission_denied`).", {}),
    404: (
        "No such entity for this customer (`not_found`): the id in the path, or one the "
        "request refers to. Another customer's entity is answered exactly the same.",
        {},
    ),
    409: (
        "The entity's state does not allow this (`invalid_transition`, `conflict`), or a "
        "unique key is taken (`conflict`).",
        {},
    ),
    413: (
        "The request body is over `FLIGHTLOG_API_MAX_BODY_BYTES` (`payload_too_large`).",
        {},
    ),
    422: (
        "Invalid input (`validation_error`); for parameters and bodies `details.problems` "
        "lists each `{location, message}`.",
        {},
    ),
    503: (
        "The database cannot serve right now (`database_unavailable`); nothing was written, "
        "try again after `Retry-After` seconds.",
        {
            "Retry-After": {
                "description": "Seconds to wait before trying again.",
                "schema": {"type": "integer", "minimum": 0},
            }
        },
    ),
    504: (
        "A statement ran past the statement timeout (`FLIGHTLOG_STATEMENT_TIMEOUT_MS`) and "
        "the database cancelled it (`statement_timeout`); nothing was written. Ask for less or "
        "raise the timeout.",
        {},
    ),
}


def _resolve(document: dict[str, Any], schema: Any) -> Any:
    ref = schema.get("$ref") if isinstance(schema, dict) else None
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        return document["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
    return schema


def _carries_id(document: dict[str, Any], schema: Any, seen: set[str]) -> bool:
    """Whether a value of ``schema`` can hold an id (a string of format uuid)."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str):
            if ref in seen:
                return False
            seen.add(ref)
            return _carries_id(document, _resolve(document, schema), seen)
        if schema.get("format") == "uuid":
            return True
        return any(_carries_id(document, value, seen) for value in schema.values())
    if isinstance(schema, list):
        return any(_carries_id(document, value, seen) for value in schema)
    return False


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method in _METHODS:
                yield path, method, operation


def error_statuses(document: dict[str, Any], method: str, operation: dict[str, Any]) -> list[int]:
    """The error statuses an operation of this API can answer."""
    parameters = operation.get("parameters", [])
    body = operation.get("requestBody")
    statuses: list[int] = []
    if operation.get("security"):
        statuses += [401, 403]
    inputs = [p.get("schema") for p in parameters] + ([body] if body is not None else [])
    if any(p.get("in") == "path" for p in parameters) or _carries_id(document, inputs, set()):
        statuses.append(404)
    if method in _WRITES:
        statuses.append(409)
    if body is not None:
        statuses.append(413)
    if parameters or body is not None:
        statuses.append(422)
    if operation.get("security"):
        statuses += [503, 504]
    return statuses


def _error_response(status: int) -> dict[str, Any]:
    description, headers = ERROR_RESPONSES[status]
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": dict(_ERROR_REF)}},
    }
    if headers:
        response["headers"] = headers
    return response


def document_errors(document: dict[str, Any]) -> dict[str, Any]:
    """Add the error responses to every operation of ``document`` (in place) and return it."""
    components = document.setdefault("components", {}).setdefault("schemas", {})
    for name, definition in ErrorBody.model_json_schema(ref_template=_REF_TEMPLATE)[
        "$defs"
    ].items():
        components.setdefault(name, definition)
    body_schema = ErrorBody.model_json_schema(ref_template=_REF_TEMPLATE)
    body_schema.pop("$defs", None)
    components["ErrorBody"] = body_schema
    for _path, method, operation in _operations(document):
        if operation.get(OWN_ERRORS):
            continue
        responses = operation.setdefault("responses", {})
        for status in error_statuses(document, method, operation):
            key = str(status)
            existing = responses.get(key)
            if existing is None or _is_fastapi_validation(existing):
                responses[key] = _error_response(status)
        if "503" in responses:  # GET /health's own 503 too
            responses["503"].setdefault("headers", {}).update(ERROR_RESPONSES[503][1])
        operation["responses"] = dict(sorted(responses.items()))
    for name in ("HTTPValidationError", "ValidationError"):
        if not _referenced(document, f"#/components/schemas/{name}"):
            components.pop(name, None)
    return document


def _is_fastapi_validation(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref") == "#/components/schemas/HTTPValidationError")


def _referenced(document: Any, ref: str) -> bool:
    if isinstance(document, dict):
        return document.get("$ref") == ref or any(
            _referenced(value, ref) for value in document.values()
        )
    if isinstance(document, list):
        return any(_referenced(value, ref) for value in document)
    return False


def install_contract(app: FastAPI) -> None:
    """Make ``app.openapi()`` document the error responses (built once, then cached)."""
    build: Callable[[], dict[str, Any]] = app.openapi
    cached: dict[str, Any] | None = None

    def openapi() -> dict[str, Any]:
        nonlocal cached
        if cached is None:
            cached = document_errors(build())
            app.openapi_schema = cached
        return cached

    app.openapi = openapi  # type: ignore[method-assign]

"""OTLP/HTTP receivers: ``POST /v1/traces`` and ``POST /v1/metrics`` at the server's root.

Served where OpenTelemetry exporters look by default (``OTEL_EXPORTER_OTLP_ENDPOINT``
plus ``/v1/traces``), authenticated by the same API key as the rest of the API, sent
the way ``OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20<key>`` sends it. Every
answer follows the OTLP/HTTP specification rather than the API's JSON error shape:
a 200 carries an ``Export*ServiceResponse`` (with ``partial_success`` when some
spans or points were rejected) and every 4xx/5xx a ``google.rpc.Status``, both in
the encoding of the request; an unreachable database is a 503 with ``Retry-After``,
which exporters retry.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials

from flightlog.api.auth import bearer, context, tenant_store
from flightlog.api.context import ApiContext
from flightlog.api.errors import RETRY_AFTER_SECONDS
from flightlog.api.openapi import OWN_ERRORS
from flightlog.db.failures import database_unreachable
from flightlog.errors import FlightlogError, http_status
from flightlog.otlp import wire
from flightlog.otlp.prices import last_price_table
from flightlog.otlp.readings import read_ahead
from flightlog.otlp.spans import Rejected
from flightlog.store.core import Store

log = logging.getLogger(__name__)
router = APIRouter(tags=["opentelemetry"])
#: The receivers read their bodies themselves (protobuf, gzip) and enforce the body ceiling
#: themselves (so that a 413 is a ``google.rpc.Status`` in the request's encoding, as OTLP
#: requires, not the API's JSON error), so the API's body-size and JSON depth middleware
#: must let them through untouched.
RAW_BODY_ROUTES = (("POST", "/v1/traces"), ("POST", "/v1/metrics"))
_BINARY = {"schema": {"type": "string", "format": "binary"}}
_OPENAPI = {
    # The API's error responses (flightlog.api.openapi) are not added: these are all of them.
    OWN_ERRORS: True,
    "requestBody": {
        "required": True,
        "content": {
            "application/x-protobuf": _BINARY,
            "application/json": {"schema": {"type": "object"}},
        },
    },
}
#: ``google.rpc.Status`` as OTLP/JSON writes it (protobuf's JSON mapping).
_STATUS_JSON = {
    "type": "object",
    "properties": {
        "code": {"type": "integer"},
        "message": {"type": "string"},
        "details": {"type": "array", "items": {"type": "object"}},
    },
}
_ERRORS = {
    400: "The body cannot be decoded (protobuf, JSON, gzip) or is not an export request.",
    401: "No API key, or one that is unknown, revoked or expired.",
    403: "The key's scopes do not allow writing.",
    413: "The body, or what it inflates to, is over `FLIGHTLOG_API_MAX_BODY_BYTES`.",
    415: "A Content-Type other than OTLP's protobuf or JSON, or a Content-Encoding other "
    "than gzip.",
    503: "The database cannot serve right now; exporters retry after `Retry-After` seconds.",
}
_HEADERS = {
    401: {"WWW-Authenticate": {"description": "Always `Bearer`.", "schema": {"type": "string"}}},
    503: {
        "Retry-After": {
            "description": "Seconds to wait before trying again.",
            "schema": {"type": "integer", "minimum": 0},
        }
    },
}


def _responses(kind: Literal["traces", "metrics"]) -> dict[int | str, dict[str, Any]]:
    """The OTLP/HTTP answers, documented for the OpenAPI contract: each in either encoding.

    Not the API's JSON error shape: OTLP requires a ``google.rpc.Status`` in the request's
    Content-Type (a 415 for a type it cannot use is answered in protobuf).
    """
    rejected = "rejectedSpans" if kind == "traces" else "rejectedDataPoints"
    message = "ExportTraceServiceResponse" if kind == "traces" else "ExportMetricsServiceResponse"
    success = {
        "type": "object",
        "properties": {
            "partialSuccess": {
                "type": "object",
                "properties": {
                    rejected: {"type": ["integer", "string"]},
                    "errorMessage": {"type": "string"},
                },
            }
        },
    }
    answers: dict[int | str, dict[str, Any]] = {
        200: {
            "description": f"{message}; `partialSuccess` counts and explains what was rejected.",
            "content": {"application/x-protobuf": _BINARY, "application/json": {"schema": success}},
        }
    }
    for code, description in _ERRORS.items():
        answers[code] = {
            "description": f"google.rpc.Status: {description}",
            "content": {
                "application/x-protobuf": _BINARY,
                "application/json": {"schema": _STATUS_JSON},
            },
        }
        if code in _HEADERS:
            answers[code]["headers"] = _HEADERS[code]
    return answers


def _status(code: int, message: str, content_type: str | None) -> Response:
    body, media_type = wire.encode_status(code, message, content_type)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if code == 503 else {}
    if code == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return Response(body, status_code=code, media_type=media_type, headers=headers)


async def _authenticated(
    request: Request, ctx: ApiContext, credentials: HTTPAuthorizationCredentials | None
) -> Store | Response:
    content_type = request.headers.get("content-type")
    try:
        return await tenant_store(request, ctx, credentials)
    except FlightlogError as exc:
        return _status(http_status(exc), exc.message, content_type)
    except Exception as exc:
        if database_unreachable(exc):
            return _status(503, "the database is unreachable; retry later", content_type)
        raise


async def _body(request: Request, max_bytes: int) -> bytes:
    """The request body, refused before it is read past ``max_bytes``.

    A declared ``Content-Length`` over the ceiling is refused without reading anything; a
    chunked body is counted as it arrives and cut off at the ceiling, so no body larger than
    the ceiling is ever held in memory (the gzip inflation in :mod:`flightlog.otlp.wire`
    keeps the same ceiling).
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise wire.BodyTooLarge(_too_large(max_bytes))
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > max_bytes:
            raise wire.BodyTooLarge(_too_large(max_bytes))
    return bytes(received)


def _too_large(max_bytes: int) -> str:
    return (
        f"The request body is over {max_bytes} bytes (FLIGHTLOG_API_MAX_BODY_BYTES); "
        "export smaller batches."
    )


#: Statuses a FlightlogError keeps on an OTLP answer; any other is a 400.
_OTLP_STATUSES = frozenset({400, 401, 403, 413, 429, 503})


def _failure(exc: Exception, content_type: str | None) -> Response:
    if isinstance(exc, wire.WireError):
        return _status(exc.http_status, exc.message, content_type)
    if isinstance(exc, FlightlogError):
        code = http_status(exc)
        if code == 503:
            log.warning("database unavailable on OTLP export: %r", exc.__cause__ or exc)
        elif code not in _OTLP_STATUSES:
            # OTLP/HTTP knows no 404, 409 or 422: data that cannot be recorded, and will not
            # be on a retry, is a 400 ("the request [...] is otherwise invalid").
            log.warning("OTLP export refused as a whole: %r", exc)
            code = 400
        return _status(code, exc.message, content_type)
    if database_unreachable(exc):
        return _status(503, "the database is unreachable; retry later", content_type)
    raise exc


def _answer(
    kind: Literal["traces", "metrics"], rejected: list[Rejected], content_type: str | None
) -> Response:
    noun = "spans" if kind == "traces" else "data points"
    message = wire.summarize_rejections(rejected, noun)
    body, media_type = wire.encode_export_response(kind, len(rejected), message, content_type)
    return Response(body, media_type=media_type)


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def _export(
    kind: Literal["traces", "metrics"],
    request: Request,
    ctx: ApiContext,
    credentials: HTTPAuthorizationCredentials | None,
) -> Response:
    """Authenticate, read, decode and record one export; answer as OTLP/HTTP says."""
    content_type = request.headers.get("content-type")
    store = await _authenticated(request, ctx, credentials)
    if isinstance(store, Response):
        return store
    try:
        max_bytes = ctx.settings.api_max_body_bytes
        body = await _body(request, max_bytes)
        encoding = request.headers.get("content-encoding")
        if kind == "traces":
            traces = wire.decode_traces(body, content_type, encoding, max_bytes=max_bytes)
            # Before the ingest's transaction and lock (flightlog.otlp.readings). On the
            # loop, like the decoding: in a thread it would share this process's GIL with
            # another request's locked part and hold the lock longer (measured: 5,500
            # against 5,860 spans/s with two processes on PostgreSQL).
            read_ahead(traces.spans, last_price_table(store.engine.url))
            recorded = await store.traces.record(traces.spans)
            rejected = [*traces.rejected, *recorded.rejected]
        else:
            metrics = wire.decode_metrics(body, content_type, encoding, max_bytes=max_bytes)
            points = await store.traces.record_metrics(metrics.points)
            rejected = [*metrics.rejected, *points.rejected]
    except Exception as exc:
        return _failure(exc, content_type)
    return _answer(kind, rejected, content_type)


@router.post(
    "/v1/traces",
    openapi_extra=_OPENAPI,
    response_class=Response,
    responses=_responses("traces"),
)
async def export_traces(
    request: Request, ctx: Annotated[ApiContext, Depends(context)], credentials: Credentials
) -> Response:
    """Record OTLP spans: runs, agent runs, model and tool events (docs/otlp.md)."""
    return await _export("traces", request, ctx, credentials)


@router.post(
    "/v1/metrics",
    openapi_extra=_OPENAPI,
    response_class=Response,
    responses=_responses("metrics"),
)
async def export_metrics(
    request: Request, ctx: Annotated[ApiContext, Depends(context)], credentials: Credentials
) -> Response:
    """Record OTLP metric points (the GenAI client metrics and any other) as metric points."""
    return await _export("metrics", request, ctx, credentials)


@router.post("/v1/logs", include_in_schema=False)
async def refuse_logs(request: Request) -> Response:
    """OTLP logs are not taken. An exporter given one endpoint for every signal
    (``OTEL_EXPORTER_OTLP_ENDPOINT``) sends its logs here too: it gets a Status in its
    own encoding saying what to change, not an HTML page it cannot read."""
    return _status(
        404,
        "Flightlog records OpenTelemetry traces and metrics, not logs: set "
        "OTEL_LOGS_EXPORTER=none, or send logs to another backend",
        request.headers.get("content-type"),
    )

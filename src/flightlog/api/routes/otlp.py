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
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials

from flightlog.api.auth import bearer, context, tenant_store
from flightlog.api.context import ApiContext
from flightlog.api.errors import RETRY_AFTER_SECONDS
from flightlog.db.failures import database_unreachable
from flightlog.errors import FlightlogError, http_status
from flightlog.otlp import wire
from flightlog.otlp.spans import Rejected
from flightlog.store.core import Store

log = logging.getLogger(__name__)
router = APIRouter(tags=["opentelemetry"])
#: The receivers read their bodies themselves (protobuf, gzip), so the JSON depth
#: check of the rest of the API must let them through untouched.
RAW_BODY_ROUTES = (("POST", "/v1/traces"), ("POST", "/v1/metrics"))
_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {"schema": {"type": "object"}},
        },
    }
}


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


def _failure(exc: Exception, content_type: str | None) -> Response:
    if isinstance(exc, wire.WireError):
        return _status(exc.http_status, exc.message, content_type)
    if isinstance(exc, FlightlogError):
        code = http_status(exc)
        if code == 503:
            log.warning("database unavailable on OTLP export: %r", exc.__cause__ or exc)
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


@router.post("/v1/traces", openapi_extra=_OPENAPI, response_class=Response)
async def export_traces(
    request: Request, ctx: Annotated[ApiContext, Depends(context)], credentials: Credentials
) -> Response:
    """Record OTLP spans: runs, agent runs, model and tool events (docs/otlp.md)."""
    content_type = request.headers.get("content-type")
    store = await _authenticated(request, ctx, credentials)
    if isinstance(store, Response):
        return store
    try:
        decoded = wire.decode_traces(
            await request.body(),
            content_type,
            request.headers.get("content-encoding"),
            max_bytes=ctx.settings.api_max_body_bytes,
        )
        recorded = await store.traces.record(decoded.spans)
    except Exception as exc:
        return _failure(exc, content_type)
    return _answer("traces", [*decoded.rejected, *recorded.rejected], content_type)


@router.post("/v1/metrics", openapi_extra=_OPENAPI, response_class=Response)
async def export_metrics(
    request: Request, ctx: Annotated[ApiContext, Depends(context)], credentials: Credentials
) -> Response:
    """Record OTLP metric points (the GenAI client metrics and any other) as metric points."""
    content_type = request.headers.get("content-type")
    store = await _authenticated(request, ctx, credentials)
    if isinstance(store, Response):
        return store
    try:
        decoded = wire.decode_metrics(
            await request.body(),
            content_type,
            request.headers.get("content-encoding"),
            max_bytes=ctx.settings.api_max_body_bytes,
        )
        recorded = await store.traces.record_metrics(decoded.points)
    except Exception as exc:
        return _failure(exc, content_type)
    return _answer("metrics", [*decoded.rejected, *recorded.rejected], content_type)

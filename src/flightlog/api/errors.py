"""Every error leaves as JSON ``{"error": {"code", "message", "details"}}``, never a traceback.

Domain errors map to status codes by :data:`flightlog.errors.HTTP_STATUSES`, the
table the client reads them back with. FastAPI's own request
validation is reshaped to the same body, so a client parses one format.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from flightlog.db.failures import (
    database_unreachable,
    driver_errors,
    statement_timed_out,
    timeout_error,
    unavailable_error,
)
from flightlog.errors import FlightlogError, NotFound, PayloadTooLarge, http_status

log = logging.getLogger("flightlog.api")

#: How long a client should wait before retrying while the database is unavailable.
RETRY_AFTER_SECONDS = 5


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _reply(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(jsonable_encoder(body), status_code=status, headers=headers)


def route_path(request: Request) -> str:
    """The path within this app, without the prefix it is mounted under."""
    path, root = request.url.path, request.scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _page(request: Request, status: int, message: str) -> Response | None:
    """The dashboard's error page for a browser's request, when the app has a dashboard."""
    render: Callable[[Request, int, str], Response] | None = getattr(
        request.app.state, "render_error", None
    )
    if render is None or route_path(request).startswith("/api/"):
        return None
    return render(request, status, message)


async def _flightlog_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FlightlogError)
    status = http_status(exc)
    headers = _HEADERS_BY_STATUS.get(status)
    if status == 500:
        log.error("unmapped Flightlog error on %s %s: %s", request.method, request.url.path, exc)
    if status == 503:
        # The client hears "unavailable"; the operator needs the driver's own words.
        log.warning(
            "database unavailable on %s %s: %r",
            request.method,
            request.url.path,
            exc.__cause__ or exc,
        )
    if status == 504:
        log.warning("statement timeout on %s %s", request.method, request.url.path)
    page = _page(request, status, exc.message)
    if page is not None:
        page.headers.update(headers or {})
        return page
    return _reply(status, error_body(exc.code, exc.message, exc.details), headers)


_HEADERS_BY_STATUS = {
    401: {"WWW-Authenticate": "Bearer"},
    503: {"Retry-After": str(RETRY_AFTER_SECONDS)},
}


def _unavailable(cause: Exception) -> FlightlogError:
    error = unavailable_error()
    error.__cause__ = cause
    return error


async def _driver_error(request: Request, exc: Exception) -> Response:
    """A driver error that escaped every Store (authentication, health, the dashboard's reads).

    A database out of reach is the same 503 a Store call gives, a statement
    cancelled at the statement timeout the same 504; anything else is a bug,
    answered as one.
    """
    if database_unreachable(exc):
        return await _flightlog_error(request, _unavailable(exc))
    if statement_timed_out(exc):
        timed_out = timeout_error()
        timed_out.__cause__ = exc
        return await _flightlog_error(request, timed_out)
    return await _unexpected(request, exc)


async def _request_invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"location": ".".join(str(part) for part in err["loc"]), "message": err["msg"]}
        for err in exc.errors()
    ]
    summary = "; ".join(f"{p['location']}: {p['message']}" for p in problems)
    page = _page(request, 422, f"invalid request: {summary}")
    if page is not None:
        return page
    return _reply(
        422, error_body("validation_error", f"invalid request: {summary}", {"problems": problems})
    )


_HTTP_CODES = {404: NotFound.code, 405: "method_not_allowed", 413: PayloadTooLarge.code}
#: FastAPI's answer (400) to a body it cannot even decode, e.g. bytes that are not UTF-8.
_UNPARSEABLE_BODY = "There was an error parsing the body"


def _body_not_json(request: Request, exc: StarletteHTTPException) -> Response:
    """An undecodable body is invalid input like malformed JSON: 422, not FastAPI's 400."""
    reason = "the request body is not JSON"
    if exc.__cause__ is not None:
        reason = f"{reason}: {exc.__cause__}"
    page = _page(request, 422, f"invalid request: {reason}")
    if page is not None:
        return page
    problems = [{"location": "body", "message": reason}]
    return _reply(
        422, error_body("validation_error", f"invalid request: {reason}", {"problems": problems})
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (no such route, wrong method) in the same body as ours."""
    assert isinstance(exc, StarletteHTTPException)
    message = str(exc.detail)
    if exc.status_code == 400 and message == _UNPARSEABLE_BODY:
        return _body_not_json(request, exc)
    if exc.status_code == 404 and message == "Not Found":
        message = f"no such endpoint: {request.method} {request.url.path}"
    page = _page(request, exc.status_code, message)
    if page is not None:
        return page
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return _reply(exc.status_code, error_body(code, message), dict(exc.headers or {}))


async def _unexpected(request: Request, exc: Exception) -> Response:
    if database_unreachable(exc):
        return await _flightlog_error(request, _unavailable(exc))
    # The details go to the server's log, not to the client.
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _reply(500, error_body("internal_error", "internal server error; see the server log"))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(FlightlogError, _flightlog_error)
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # Handled here, by class, so that they never reach Starlette's last-resort handler,
    # which answers and then re-raises, so that the server drops the connection.
    for family in driver_errors():
        app.add_exception_handler(family, _driver_error)
    app.add_exception_handler(Exception, _unexpected)

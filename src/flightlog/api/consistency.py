"""Read-your-writes across API processes: the ``Flightlog-Consistency`` token.

With read replicas, a client's write goes to the primary and its next list
may be read on a replica. Several server processes (``flightlog serve
--workers N``) share no memory, so the client carries what it wrote: every
response to a request that wrote has a ``Flightlog-Consistency`` header (the
primary's WAL position after the write, see :mod:`flightlog.db.positions`);
the client sends the latest one back on its next requests, and the process
that serves them reads on a replica only once it has replayed that far
(:mod:`flightlog.store.replica_reads`), else on the primary. The typed clients
(:mod:`flightlog.client`) do this by themselves; a browser signed in to the
dashboard gets the same token as a cookie.

A request without a token reads what any fit replica has. Without replicas
configured this middleware only refuses a malformed token (so a client's bug
shows before replicas are added) and otherwise passes every request through.
"""

from __future__ import annotations

import logging

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flightlog.api.errors import error_body
from flightlog.api.limits import send_error
from flightlog.db.failures import driver_errors
from flightlog.db.positions import format_position, parse_position, token_position
from flightlog.errors import ValidationError
from flightlog.store.replica_reads import ReadFloor, floor_scope, primary_position

log = logging.getLogger("flightlog.api")

#: The header a response to a write carries and a client sends back.
HEADER = "Flightlog-Consistency"
#: The same token for a signed-in browser (the dashboard's forms and pages).
COOKIE = "flightlog_consistency"
#: A browser forgets its token after this long: by then any replica fit to serve has it.
COOKIE_SECONDS = 300
#: The dashboard's sign-in cookie: requests that carry it get the token as a cookie too.
_DASHBOARD_COOKIE = "flightlog_key"


class ReadYourWrites:
    """ASGI middleware: a request's floor from its token; the token on responses to writes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        context = getattr(scope["app"].state, "flightlog", None) if "app" in scope else None
        if scope["type"] != "http" or context is None:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            floor = _request_floor(headers)
        except ValidationError as exc:
            # Refused with or without replicas: a client's broken token shows before the
            # day replicas are added, not on it.
            await send_error(send, 422, error_body(exc.code, exc.message, exc.details))
            return
        if context.replicas is None:
            await self.app(scope, receive, send)
            return
        browser = _DASHBOARD_COOKIE in _cookies(headers)

        async def send_token(message: Message) -> None:
            if message["type"] == "http.response.start" and floor.pending:
                floor.pending = False
                try:
                    floor.raise_to(await primary_position(context.engine))
                except driver_errors() as exc:
                    # The write's answer must not fail for it: the client's next reads
                    # go without the token, and may trail its write by the replica's lag.
                    log.warning("no consistency token for this answer: %s", exc)
                else:
                    _add_token(message, format_position(floor.position), browser=browser)
            await send(message)

        with floor_scope(floor):
            await self.app(scope, receive, send_token)


def _request_floor(headers: Headers) -> ReadFloor:
    """The floor the request's token names (0 without one); a malformed header is refused.

    A malformed cookie is only ignored: a browser cannot be told to fix its cookies.
    """
    token = headers.get(HEADER)
    if token is not None and token.strip():
        return ReadFloor(position=token_position(token, source=f"{HEADER} header"))
    cookie = _cookies(headers).get(COOKIE)
    if cookie:
        try:
            return ReadFloor(position=parse_position(cookie))
        except ValueError:
            pass
    return ReadFloor()


def _cookies(headers: Headers) -> dict[str, str]:
    found: dict[str, str] = {}
    for header in headers.getlist("cookie"):
        for part in header.split(";"):
            name, _, value = part.strip().partition("=")
            if name:
                found[name] = value
    return found


def _add_token(message: Message, token: str, *, browser: bool) -> None:
    response = MutableHeaders(scope=message)
    response[HEADER] = token
    if browser:
        response.append(
            "set-cookie",
            f"{COOKIE}={token}; Max-Age={COOKIE_SECONDS}; Path=/; HttpOnly; SameSite=Lax",
        )
    # Where the header may be read from script on another origin (CORS), it is listed.
    exposed = response.get("access-control-expose-headers")
    if exposed is not None and HEADER.lower() not in exposed.lower():
        response["access-control-expose-headers"] = f"{exposed}, {HEADER}"

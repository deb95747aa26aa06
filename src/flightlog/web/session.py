"""Who is looking at the dashboard: the API key in the session cookie."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from flightlog.api.auth import context
from flightlog.api.context import ApiContext
from flightlog.api.errors import route_path
from flightlog.errors import PermissionDenied
from flightlog.services.api_keys import WRITE_SCOPE, VerifiedKey
from flightlog.services.lifecycle import (
    MODIFICATION_LIFECYCLE,
    PULL_REQUEST_LIFECYCLE,
    RECOMMENDATION_LIFECYCLE,
    RUN_LIFECYCLE,
    TASK_LIFECYCLE,
    Lifecycle,
)
from flightlog.store.core import Store
from flightlog.web.flash import clear_flash, read_flash
from flightlog.web.format import FILTERS

COOKIE = "flightlog_key"
#: Sent by static/live.js when it re-reads a page in the background.
LIVE_HEADER = "x-flightlog-live"
SESSION_SECONDS = 8 * 3600
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.filters.update(FILTERS)
#: The transition tables a page asks before it offers a button (``can_move("run", ...)``).
_LIFECYCLES: dict[str, Lifecycle[Any]] = {
    "task": TASK_LIFECYCLE,
    "run": RUN_LIFECYCLE,
    "recommendation": RECOMMENDATION_LIFECYCLE,
    "modification": MODIFICATION_LIFECYCLE,
    "pull_request": PULL_REQUEST_LIFECYCLE,
}


def can_move(kind: str, current: str, target: str) -> bool:
    """Whether ``kind``'s lifecycle allows ``current -> target``: buttons follow the same table
    the services enforce, so a page never offers what the service would refuse by status."""
    lifecycle = _LIFECYCLES[kind]
    status = type(next(iter(lifecycle.transitions)))
    return lifecycle.allowed(status(current), status(target))


templates.env.globals["can_move"] = can_move


class LoginRequired(Exception):
    """No valid key in the cookie: send the browser to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def safe_next(path: str | None) -> str:
    """Only a path on this site: never an open redirect to another one."""
    if (
        not path
        or not path.startswith("/")
        or path.startswith("//")
        or "\\" in path
        or any(ord(c) < 32 for c in path)
    ):
        return "/"
    return path


@dataclass(frozen=True)
class Viewer:
    """The signed-in key as pages see it: what it may do and the form token that proves it."""

    customer_id: uuid.UUID
    key_id: uuid.UUID
    scopes: tuple[str, ...]
    csrf: str

    @property
    def can_write(self) -> bool:
        # A key with no scopes predates scopes and may do everything, as over the API.
        return not self.scopes or WRITE_SCOPE in self.scopes

    @property
    def read_only_reason(self) -> str:
        return (
            f"this key's scopes ({', '.join(self.scopes)}) only allow reading; "
            f"sign in with a key that has '{WRITE_SCOPE}' to act"
        )


def csrf_token(key: str) -> str:
    """The form token of a session: an HMAC of a fixed label keyed by the session's key.

    No server state, so every worker process agrees; a page on another site cannot
    know it without the key, which the HttpOnly cookie keeps from scripts.
    """
    return hmac.new(key.encode(), b"flightlog dashboard form", hashlib.sha256).hexdigest()


def viewer_of(verified: VerifiedKey, key: str) -> Viewer:
    return Viewer(verified.customer_id, verified.key_id, tuple(verified.scopes), csrf_token(key))


async def dashboard_store(request: Request, ctx: Annotated[ApiContext, Depends(context)]) -> Store:
    key = request.cookies.get(COOKIE)
    if not key:
        raise LoginRequired(here(request))
    try:
        verified = await ctx.keys.verify(key)
    except PermissionDenied:
        raise LoginRequired(here(request)) from None
    request.state.viewer = viewer_of(verified, key)
    store = ctx.store_for(verified.customer_id)
    if request.method == "GET" and not route_path(request).startswith(_NO_CHROME):
        # Every page shows the count beside "Waiting" in its navigation; live.js keeps it fresh.
        request.state.waiting_count = sum((await store.views.waiting_counts()).values())
    return store


#: Paths that answer for scripts, not people: no navigation to fill in.
_NO_CHROME = ("/live/", "/actions/")

DashboardStore = Annotated[Store, Depends(dashboard_store)]


def root(request: Request) -> str:
    """The prefix the app is mounted under ('' at the root), for links and redirects."""
    prefix: str = request.scope.get("root_path", "")
    return prefix.rstrip("/")


def here(request: Request) -> str:
    """This page's path and query under the mount prefix: where an action form returns to."""
    query = request.url.query
    return route_path(request) + (f"?{query}" if query else "")


def page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    """A template rendered with what every page needs: the mount prefix and who is looking."""
    viewer = getattr(request.state, "viewer", None)
    waiting_count = getattr(request.state, "waiting_count", None)
    # The live script re-reads pages; only a page a person navigated to shows the outcome.
    live = request.headers.get(LIVE_HEADER) is not None
    flash = read_flash(request) if viewer is not None and not live else None
    response = templates.TemplateResponse(
        request,
        name,
        {
            "root": root(request),
            "viewer": viewer,
            "flash": flash,
            "here": here(request),
            "waiting_count": waiting_count,
            **context,
        },
        status_code=status_code,
    )
    if flash is not None:
        clear_flash(response, request)
    return response


def set_session(response: Response, request: Request, key: str) -> None:
    # Lax, not Strict: a link to the dashboard from mail or chat must arrive signed
    # in. The dashboard changes nothing on GET, and its two POSTs check the origin.
    response.set_cookie(
        COOKIE,
        key,
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path=root(request) or "/",
    )


def end_session(response: Response, request: Request) -> None:
    if COOKIE in request.cookies:
        response.delete_cookie(COOKIE, path=root(request) or "/", httponly=True, samesite="lax")


def same_origin(request: Request) -> bool:
    """Whether a browser's POST comes from this site (CSRF defence for every dashboard form).

    Browsers send ``Sec-Fetch-Site`` on every request, and it is the browser's own
    verdict; where it is present it decides (a page with ``Referrer-Policy:
    no-referrer`` sends ``Origin: null`` even to itself, so ``Origin`` cannot).
    Without it, ``Origin`` must name this host. A client that sends neither is not a
    browser being tricked, and may proceed.
    """
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.url.netloc


async def redirect_to_login(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    target = quote(safe_next(exc.next_path))
    response = RedirectResponse(f"{root(request)}/login?next={target}", status_code=303)
    end_session(response, request)
    return response


def render_error(request: Request, status: int, message: str) -> Response:
    """A page, not JSON, for errors met while browsing."""
    return page(request, "error.html", {"status": status, "message": message}, status)
